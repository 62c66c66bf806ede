"""End to end: the Gradio demo served on localhost and driven by Playwright in Debian's Chromium.

Needs ``pip install playwright`` (no ``playwright install``: it would download a browser) and
``apt-get install chromium``; skipped without either.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytest.importorskip("plotly")
sync_api = pytest.importorskip("playwright.sync_api")

from test_space import save_tiny_model  # noqa: E402

from elepose_hf.pipeline import ElePosePipeline  # noqa: E402
from spaces_demo import app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 20_000

if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The demo on a tiny model, served in a background thread; yields its URL."""
    pipeline = ElePosePipeline.from_pretrained(save_tiny_model(tmp_path_factory.mktemp("model") / "tiny"), "cpu")
    demo = app.build_demo(pipeline)
    port = _free_port()
    app.launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_upload_pick_a_person_then_a_bad_upload(server, tmp_path):
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            upload = page.locator("input[type=file]").first
            upload.set_input_files(app.EXAMPLES_DIR / "cmu_four_people.npz")
            summary = page.locator("#summary")
            expect(summary).to_contain_text("Plausibility", timeout=TIMEOUT_MS)
            expect(summary).to_contain_text("(person 1 of 4)", timeout=TIMEOUT_MS)
            expect(page.locator("#pose3d .js-plotly-plot .gl-container"), "the 3D plot").to_be_attached(
                timeout=TIMEOUT_MS
            )
            expect(page.get_by_role("row", name=re.compile("cmu_four_people_elepose")), "the download").to_be_attached()

            page.get_by_label("Person").click()
            page.get_by_role("option", name="swordplay").click()
            expect(summary).to_contain_text("(person 2 of 4)", timeout=TIMEOUT_MS)

            empty = tmp_path / "empty.json"
            empty.touch()
            page.get_by_role("button", name="Clear").first.click()
            upload.set_input_files(empty)
            expect(summary).to_contain_text("Could not lift empty.json: the file is empty", timeout=TIMEOUT_MS)
        finally:
            browser.close()
