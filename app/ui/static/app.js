// The ops page. Reads the service's own REST API with the operator's token, which stays in
// sessionStorage (this tab only) and is sent only as an Authorization header; the live feed
// opens with a short-lived stream ticket. Every value is put on the page as text, never as HTML.
"use strict";

const API = new URL("../api/v1/", document.baseURI);
const TOKEN_KEY = "mobivate-hooks.token";
const REFRESH_MS = 15000;
const FEED_MAX = 50;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
let funnelOf = { window: "24h" };
let refreshTimer = null;
let feed = null;
let lastEventId = null;

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(new URL(path, API), {
    ...options,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
  });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) {
    const error = new Error(`${path}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function text(element, value) {
  element.textContent = value === null || value === undefined ? "" : String(value);
  return element;
}

function cell(row, value) {
  text(row.insertCell(), value);
}

function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function age(seconds) {
  if (!seconds) return "none waiting";
  if (seconds < 120) return `oldest ${Math.round(seconds)} s`;
  if (seconds < 7200) return `oldest ${Math.round(seconds / 60)} min`;
  return `oldest ${Math.round(seconds / 3600)} h`;
}

function tone(element, name) {
  element.classList.remove("ok", "warn", "bad");
  if (name) element.classList.add(name);
}

// ---- state tiles ----------------------------------------------------------------------------

function showOverview(overview) {
  const badge = $("status");
  badge.hidden = false;
  text(badge, overview.status);
  const level = overview.status === "ready" ? "ok" : overview.ready ? "warn" : "bad";
  tone(badge, level);
  text($("ready"), overview.ready ? (overview.status === "ready" ? "Ready" : "Degraded") : "Not ready");
  tone($("ready"), level);
  text($("ready-note"), Object.entries(overview.checks).map(([k, v]) => `${k}: ${v}`).join(" · "));

  const outbox = overview.outbox;
  text($("outbox"), outbox ? outbox.pending : "?");
  tone($("outbox"), !outbox ? "bad" : outbox.failed ? "bad" : outbox.pending ? "warn" : "ok");
  text($("outbox-note"), outbox
    ? `${outbox.pending ? `waiting · ${age(outbox.oldest_pending_age_seconds)}` : "none waiting"}${outbox.failed ? ` · ${outbox.failed} refused for good` : ""}`
    : "database unreachable");

  const spool = overview.spool;
  text($("spool"), spool.entries);
  tone($("spool"), spool.full ? "bad" : spool.entries ? "warn" : "ok");
  text($("spool-note"), spool.entries
    ? `${(spool.bytes / 1024).toFixed(1)} KiB · ${age(spool.oldest_age_seconds)}`
    : "empty: webhooks go straight to the database");

  text($("in-flight"), overview.messages_in_flight ?? "?");

  const sending = overview.batches_sending;
  text($("sending"), sending ? sending.length : "?");
  tone($("sending"), !sending ? "bad" : sending.length ? "warn" : "ok");
  text($("sending-note"), !sending ? "database unreachable" : sending.length
    ? sending.map((b) => b.total === null
      ? `batch ${b.id}: ${b.checked} of ${b.requested} checked`
      : `batch ${b.id}: ${b.submitted} of ${b.total} submitted`).join(" · ")
    : "none: every batch is settled");

  const body = $("registrations").tBodies[0];
  body.replaceChildren();
  const registrations = overview.registrations;
  text($("registrations-note"), registrations
    ? (registrations.enabled ? "Registered with Mobivate at startup" : registrations.reason)
    : "database unreachable");
  for (const entry of registrations ? registrations.registrations : []) {
    const row = body.insertRow();
    cell(row, entry.kind);
    const state = row.insertCell();
    text(state, entry.state);
    state.className = `state ${entry.state === "registered" ? "ok" : entry.state === "failed" || entry.state === "unauthorized" ? "bad" : ""}`;
    cell(row, entry.last_attempt_at ? `${when(entry.last_attempt_at)}${entry.mobivate_message ? ` · ${entry.mobivate_message}` : ""}` : "—");
  }
}

// ---- delivery funnel ------------------------------------------------------------------------

const STAGES = [
  ["sent", "Sent"], ["accepted", "Accepted"], ["delivered", "Delivered"], ["failed", "Failed"],
  ["expired", "Expired"], ["pending", "Pending"], ["clicks", "Clicks"], ["replies", "Replies"],
  ["opt_outs", "Opt-outs"],
];

let lastFunnel = null;

function drawFunnel(funnel) {
  lastFunnel = funnel;
  // Drawn at the container's own width, so the labels stay readable on a phone.
  const width = Math.max(280, Math.min(760, $("funnel").clientWidth || 640));
  const row = 30, label = 84, valueRoom = 104;
  const height = STAGES.length * row + 8;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const biggest = Math.max(1, ...STAGES.map(([key]) => funnel[key]));
  STAGES.forEach(([key, name], index) => {
    const y = index * row + 4;
    const value = funnel[key];
    const name_ = document.createElementNS(SVG, "text");
    name_.setAttribute("x", 0);
    name_.setAttribute("y", y + 18);
    text(name_, name);
    const bar = document.createElementNS(SVG, "rect");
    const span = width - label - valueRoom;
    bar.setAttribute("x", label);
    bar.setAttribute("y", y + 4);
    bar.setAttribute("height", row - 10);
    bar.setAttribute("rx", 3);
    bar.setAttribute("width", Math.max(value ? 2 : 0, (value / biggest) * span));
    bar.setAttribute("class", `bar-${key}`);
    const figure = document.createElementNS(SVG, "text");
    figure.setAttribute("x", label + (value / biggest) * span + 6);
    figure.setAttribute("y", y + 18);
    figure.setAttribute("class", "value");
    const share = key !== "sent" && funnel.sent ? ` (${((100 * value) / funnel.sent).toFixed(1)}%)` : "";
    text(figure, `${value.toLocaleString()}${share}`);
    svg.append(name_, bar, figure);
  });
  $("funnel").replaceChildren(svg);
  $("funnel").dataset.sent = funnel.sent;
  const caption = funnel.batch_id
    ? `Batch ${funnel.batch_id}, since ${when(funnel.since)}`
    : `Messages created ${funnel.window === "7d" ? "in the last 7 days" : "in the last 24 hours"}, as of ${when(funnel.until)}`;
  text($("funnel-caption"), caption);
}

async function loadFunnel() {
  const query = funnelOf.batch ? `batch_id=${encodeURIComponent(funnelOf.batch)}` : `window=${funnelOf.window}`;
  drawFunnel(await api(`stats/funnel?${query}`));
}

async function loadBatches() {
  const select = $("batch");
  const chosen = select.value;
  const page = await api("batches?limit=20");
  select.replaceChildren(new Option("Batch…", ""));
  for (const batch of page.items) {
    select.add(new Option(`#${batch.id} ${batch.name || ""} (${batch.requested})`.trim(), batch.id));
  }
  select.value = chosen;
}

// ---- lists ----------------------------------------------------------------------------------

async function loadOptouts() {
  const page = await api("optouts?limit=10");
  const body = $("optouts").tBodies[0];
  body.replaceChildren();
  for (const item of page.items) {
    const row = body.insertRow();
    cell(row, item.msisdn);
    cell(row, when(item.changed_at));
    cell(row, item.keyword ? `${item.source} (${item.keyword})` : item.source);
  }
  $("optouts-empty").hidden = page.items.length > 0;
}

async function loadReview() {
  let page;
  try {
    page = await api("optouts/review?limit=10");
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      // No review queue in this version of the service (422: the path reads as a number).
      $("review-card").hidden = true;
      return;
    }
    throw error;
  }
  $("review-card").hidden = false;
  const items = Array.isArray(page) ? page : page.items || [];
  const body = $("review").tBodies[0];
  body.replaceChildren();
  for (const item of items) {
    const row = body.insertRow();
    cell(row, item.msisdn || item.originator || "");
    cell(row, item.body ?? item.text ?? item.keyword ?? "");
    cell(row, when(item.received_at || item.occurred_at || item.created_at));
  }
  $("review-empty").hidden = items.length > 0;
}

// ---- live feed ------------------------------------------------------------------------------

function describe(kind, data) {
  switch (kind) {
    case "receipt": return `${data.status ?? data.status_code ?? ""} for ${data.mobivate_id ?? "?"}`;
    case "incoming": return `from ${data.msisdn ?? data.originator ?? "?"}: ${data.body ?? ""}`;
    case "click": return `${data.msisdn ?? "?"} opened ${data.url ?? ""}`;
    case "status": return `message ${data.id}: ${data.previous_status ?? "?"} → ${data.status}`;
    case "optout": return `${data.msisdn ?? "?"} ${data.action === "opt_in" ? "opted in" : "opted out"}${data.keyword ? ` (${data.keyword})` : ""}`;
    default: return JSON.stringify(data);
  }
}

function showEvent(message) {
  const event = JSON.parse(message.data);
  lastEventId = event.id;
  const item = document.createElement("li");
  item.dataset.kind = event.kind;
  const kind = text(document.createElement("span"), event.kind);
  kind.className = "kind";
  const time = text(document.createElement("time"), when(event.created_at));
  time.dateTime = event.created_at;
  item.append(kind, time, text(document.createElement("span"), describe(event.kind, event.data)));
  const list = $("feed");
  list.prepend(item);
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
  if (event.kind !== "receipt") refreshSoon();
}

async function openFeed() {
  if (feed) feed.close();
  text($("feed-state"), "connecting…");
  const ticket = await api("events/stream-ticket", { method: "POST" });
  const url = new URL(ticket.stream_url, document.baseURI);
  if (lastEventId !== null) url.searchParams.set("last_event_id", lastEventId);
  feed = new EventSource(url);
  feed.onopen = () => text($("feed-state"), "live");
  for (const kind of ["receipt", "incoming", "click", "status", "optout"]) {
    feed.addEventListener(kind, showEvent);
  }
  feed.onerror = () => {
    text($("feed-state"), "reconnecting…");
    // EventSource retries by itself, with the same URL; once the ticket has expired that is
    // refused and it gives up: then reconnect with a new ticket, from the last event seen.
    if (feed.readyState === EventSource.CLOSED) reconnectFeed();
  };
}

function reconnectFeed() {
  setTimeout(() => sessionStorage.getItem(TOKEN_KEY) && openFeed().catch((error) => {
    if (error instanceof Unauthorized) failed(error);
    else reconnectFeed(); // the service is away: try again
  }), 2000);
}

// ---- putting it together --------------------------------------------------------------------

let soon = null;
function refreshSoon() {
  clearTimeout(soon);
  soon = setTimeout(() => refresh().catch(failed), 1000);
}

async function refresh() {
  const [overview] = await Promise.all([
    api("overview"),
    loadFunnel(),
    loadOptouts(),
    loadReview(),
  ]);
  showOverview(overview);
}

function failed(error) {
  if (error instanceof Unauthorized) {
    signOut("That token was refused: check API_TOKENS.");
    return;
  }
  console.error(error);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  if (feed) feed.close();
  feed = null;
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("status").hidden = true;
  $("sign-in").hidden = false;
  const error = $("sign-in-error");
  error.hidden = !message;
  text(error, message || "");
}

async function start() {
  try {
    await api("overview");
  } catch (error) {
    if (error instanceof Unauthorized) return signOut("That token was refused: check API_TOKENS.");
    throw error;
  }
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  await Promise.all([refresh(), loadBatches(), openFeed()]);
  refreshTimer = setInterval(() => {
    refresh().catch(failed);
    loadBatches().catch(failed);
  }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start().catch(failed);
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll("[data-window]")) {
    button.addEventListener("click", () => {
      funnelOf = { window: button.dataset.window };
      $("batch").value = "";
      for (const other of document.querySelectorAll("[data-window]")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      loadFunnel().catch(failed);
    });
  }
  $("batch").addEventListener("change", () => {
    const batch = $("batch").value;
    if (!batch) return;
    funnelOf = { batch };
    for (const other of document.querySelectorAll("[data-window]")) other.setAttribute("aria-pressed", "false");
    loadFunnel().catch(failed);
  });
  window.addEventListener("resize", () => { if (lastFunnel) drawFunnel(lastFunnel); });
  if (sessionStorage.getItem(TOKEN_KEY)) start().catch(failed);
});
