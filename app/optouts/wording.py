"""The words of a reply, as the opt-out rule reads them (`app.optouts.keywords`).

`words(text)` takes a normalised message (`keywords.normalise_text`: NFKC, case-folded) and
returns its words: runs of letters and digits, with apostrophes inside a word kept (`don't`;
typographic apostrophes count as `'`). Before splitting, invisible format characters are removed
(`ST\\u200bOP` is `stop`). After splitting:

* a run of three or more one-letter words is one word: `S T O P`, `s.t.o.p`, `S-T-O-P` are `stop`
  (two stay apart: `u r`);
* a letter repeated three or more times counts once: `stooop`, `STOPPPP` are `stop`;
* a word written with Cyrillic or Greek letters that look like Latin ones is read as Latin when
  every letter has a Latin twin (Cyrillic `\u0405\u0422\u041e\u0420` is `stop`); other words in
  those scripts are kept.

The vocabularies below say how the words around an opt-out keyword are read: polite or
explanatory filler ("please", "texting me"), negations and noun markers before the keyword
("don't stop", "the end"), and particles after it that give a one-word keyword another sense
("stop by", "end of").
"""

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPELLED_OUT = 3
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
# Cyrillic and Greek lower-case letters with a Latin twin (after case-folding), and the twins.
_LOOKALIKES = str.maketrans(
    "\u0430\u0432\u0435\u04bb\u0456\u0458\u043a\u043c\u043d\u043e\u0440\u0441\u0442"
    "\u0443\u0445\u0455\u0501\u051b\u051d\u03b1\u03b2\u03b5\u03b7\u03b9\u03ba\u03bc"
    "\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7",
    "abehijkmhopctyxsdqwabenikuvoptux",
)


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that may surround an opt-out keyword in a reply that means nothing but "opt me out".
FILLER = _vocabulary(
    """
    please pls plz plse kindly thanks thank thankyou thx ty cheers
    you u your ur yours yourselves
    now immediately asap right away already again just ever anymore any more no never forever
    permanently completely entirely straight
    send sending sent text texts texting txt txts txting message messages messaging msg msgs
    sms smss email emails emailing call calls calling contact contacting spam spamming spammy
    me my i i'm im am we us our number numbers mobile phone
    this these those that them it its all everything anything
    to from of on the a an and or for with off out at in
    remove removed removing delete take list lists mailing subscription subscriptions service
    services marketing promotions promotional promo promos offers ads advertising advert adverts
    want wish would like be do don't dont not have has got get need
    ok okay sorry hi hello hey dear sir madam team guys
    bye goodbye good
    really seriously enough said told asked times
    is are was were annoying unwanted signed sign up agreed consent
    """
)
# A word just before a keyword that makes it mean something else: "don't stop", "the end".
OTHER_SENSE_BEFORE = _vocabulary(
    """
    not don't dont never can't cant cannot won't wont didn't didnt doesn't doesnt couldn't
    couldnt wouldn't wouldnt shouldn't shouldnt isn't isnt aren't arent
    the a an next last bus train tram pit full first final
    """
)
# A word just after a one-word keyword that makes it a phrase: "stop by", "end of", "end up".
OTHER_SENSE_AFTER = _vocabulary("by over off of up")
# Longer replies always go to a person.
MAX_CONFIDENT_WORDS = 40
# How much of a normalised reply is read for opt-out keywords.
MAX_READ_CHARS = 10_000


def words(text: str) -> list[str]:
    ascii_only = text.isascii()  # the common case: no format characters, no look-alikes
    if not ascii_only:
        text = "".join(char for char in text if unicodedata.category(char) != "Cf")
        text = text.translate(_APOSTROPHES)
    raw = _WORD.findall(_REPEATS.sub(r"\1", text))
    joined: list[str] = []
    letters: list[str] = []
    for word in [*raw, ""]:
        if len(word) == 1 and word.isalpha():
            letters.append(word)
            continue
        if len(letters) >= _SPELLED_OUT:
            joined.append(_REPEATS.sub(r"\1", "".join(letters)))
        else:
            joined.extend(letters)
        letters = []
        if word:
            joined.append(word)
    return joined if ascii_only else [_as_latin(word) for word in joined]


def _as_latin(word: str) -> str:
    latin = word.translate(_LOOKALIKES)
    return latin if latin != word and latin.isascii() else word


def is_filler(word: str) -> bool:
    return word in FILLER or word.isdigit()
