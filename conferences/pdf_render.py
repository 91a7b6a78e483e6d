"""Render one page of a PDF to a WebP image, or count its pages — run as a child process.

    python -m conferences.pdf_render info SRC            → prints {"pages": N}
    python -m conferences.pdf_render page SRC N WIDTH OUT → writes OUT (WebP), prints {"width", "height"}

Contract: exit status 0 and one JSON line on stdout on success; status 2 and a one-line reason
on stderr for a PDF that cannot be read or a page that does not exist. The process limits
itself first (address space, CPU seconds, size of files written: ``GIAOBAN_RENDER_LIMITS`` =
"bytes,seconds,bytes"), so a hostile or broken PDF costs at most that and can never take the web
process with it; the parent (``conferences.services.document_pages``) adds a wall-clock timeout.

Why PDFium (``pypdfium2``): it is the PDF engine of Chromium — what the province's browsers
already trust with PDFs, fuzzed continuously — shipped as a pinned PyPI wheel (no Debian package
on the servers, so ``make run`` works on a fresh machine), under Apache-2.0/BSD licences (PyMuPDF
is AGPL-3.0). Nothing here imports Django: the child starts in ~0.1 s.
"""

from __future__ import annotations

import json
import os
import resource
import sys

MAX_HEIGHT_RATIO = 4  # a page taller than 4× its width is drawn at most 4× the width high
WEBP_QUALITY = 88


def _limit() -> None:
    raw = os.environ.get("GIAOBAN_RENDER_LIMITS", "")
    if not raw:
        return
    memory, cpu, fsize = (int(v) for v in raw.split(","))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


def _fail(reason: str) -> int:
    print(reason[:300], file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    _limit()
    import pypdfium2 as pdfium  # after the limits: the library is what they protect against

    if len(argv) < 2 or argv[0] not in ("info", "page"):
        return _fail("usage: info SRC | page SRC N WIDTH OUT")
    try:
        pdf = pdfium.PdfDocument(argv[1])
    except pdfium.PdfiumError as exc:
        return _fail(f"unreadable PDF: {exc}")
    if argv[0] == "info":
        print(json.dumps({"pages": len(pdf)}))
        return 0
    number, width, out = int(argv[2]), int(argv[3]), argv[4]
    if not 1 <= number <= len(pdf):
        return _fail(f"no page {number} (the document has {len(pdf)})")
    page = pdf[number - 1]
    page_width, page_height = page.get_size()
    if page_width <= 0 or page_height <= 0:
        return _fail("page without a size")
    # PDFium rounds the bitmap size up: aim a hair below so a 1920 request is 1920 wide
    scale = min((width - 0.01) / page_width, (MAX_HEIGHT_RATIO * width - 0.01) / page_height)
    image = page.render(scale=scale, may_draw_forms=True).to_pil()
    tmp = f"{out}.{os.getpid()}.tmp"
    image.save(tmp, "WEBP", quality=WEBP_QUALITY, method=4)
    os.replace(tmp, out)  # readers never see half a file
    print(json.dumps({"width": image.width, "height": image.height}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
