"""A real browser (Playwright driving Debian's Chromium, headless) on the running page."""

from __future__ import annotations

import shutil

import pytest

from tests.test_ui import _free_port
from tests.waiting import EVENT_MS

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page_at(indexed, browser, tmp_path):
    from ui.server import launch

    demos = []

    def open_page(auth_file=None):
        port = _free_port()
        demos.append(launch(indexed[0], port=port, auth_file=auth_file, block=False))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(EVENT_MS)  # an upper bound on events, reached only when something hangs
        page.goto(f"http://127.0.0.1:{port}/")
        return page, f"http://127.0.0.1:{port}/"

    yield open_page
    for demo in demos:
        demo.close()


def test_upload_rank_compare_and_download_a_pdf(page_at, indexed, tmp_path):
    held_out = indexed[2]
    sitter = held_out[0].parent.name.replace("_", " ")
    page, _url = page_at()
    page.wait_for_selector("text=Who is in this painting?")
    page.locator("#identify-upload input[type=file]").set_input_files(str(held_out[0]))
    page.wait_for_selector(f"text=Best candidate: {sitter}", timeout=EVENT_MS)
    page.locator("[role=gridcell]", has_text=sitter).first.wait_for(timeout=EVENT_MS)  # the ranked sitters

    page.get_by_role("button", name="Report (PDF)").click()
    link = page.locator("a[href*='-report.pdf']").first
    link.wait_for(timeout=EVENT_MS)
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "report.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes()[:5] == b"%PDF-"

    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-a input[type=file]").set_input_files(str(held_out[0]))
    page.locator("#compare-b input[type=file]").set_input_files(str(held_out[1]))
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("text=Not the same sitter", timeout=EVENT_MS)


def test_login_required_on_page_and_api(page_at, tmp_path):
    from ui.auth import add_user

    users = tmp_path / "users.txt"
    add_user(users, "anna", "correct horse")
    page, url = page_at(users)
    page.wait_for_selector("input[type=password]")
    assert page.locator("text=Who is in this painting?").count() == 0
    assert page.request.get(f"{url}gradio_api/info").status == 401
    page.fill("input[type=text]", "anna")
    page.fill("input[type=password]", "correct horse")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Who is in this painting?", timeout=EVENT_MS)
    assert page.request.get(f"{url}gradio_api/info").status == 200
