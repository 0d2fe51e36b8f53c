"""Screenshots live in docs/images/ (beside the pages, not among them, so tests and people find
them at a stable path); this hook adds them to the site as `images/...`, so a page links them
as `images/ops-page.png` and the strict build checks those links like any other."""

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

DOCS = Path(__file__).resolve().parents[1]


def on_files(files: Files, config: Any) -> Files:
    for image in sorted((DOCS / "images").glob("*.png")):
        files.append(
            File(
                f"images/{image.name}",
                src_dir=str(DOCS),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
