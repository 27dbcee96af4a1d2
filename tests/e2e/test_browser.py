"""The clinician's page in a real browser (Debian's Chromium driven by Playwright): fill the form,
upload a synthetic series, see the contour, the risks and the survival curves; errors appear next
to the field that caused them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (CI installs it)")


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        yield browser
        browser.close()


def _fill(page, record: dict[str, object]) -> None:
    for name, value in record.items():
        selector = f"#field-{name}"
        if page.locator(selector).count() == 0:
            continue
        if page.locator(selector).evaluate("el => el.tagName") == "SELECT":
            page.select_option(selector, str(value))
        else:
            page.fill(selector, str(value))


def test_postoperative_assessment_in_the_browser(browser, system, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(system.http_url)
    page.check("input[name=stage][value=postoperative]")
    _fill(page, system.record)
    page.set_input_files("#files", [str(p) for p in system.series_files])
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    rows = page.locator("#risks tbody tr")
    assert rows.count() == 4
    assert "%" in rows.first.inner_text()
    assert page.locator("#survival tbody tr").count() == 2
    assert "Slice" in page.inner_text("label[for=slider]")
    # the outline is drawn: some pixels of the slice canvas are the outline colour
    red = page.evaluate("""() => {
        const c = document.getElementById('slice').getContext('2d');
        const d = c.getImageData(0, 0, 256, 256).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i+1] === 60) n++;
        return n; }""")
    assert red > 10
    shot = Path(__file__).resolve().parents[2] / "docs" / "img" / "web-page.png"
    if os.environ.get("CERVIXAI_UPDATE_SCREENSHOT"):
        page.screenshot(path=str(shot), full_page=True)
    page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)
    assert (tmp_path / "web-page.png").stat().st_size > 10_000


def test_errors_appear_next_to_their_field(browser, system) -> None:
    page = browser.new_page()
    page.goto(system.http_url)
    _fill(page, {**system.preoperative, "age_years": 130})
    page.set_input_files("#files", [str(p) for p in system.series_files])
    page.click("#submit")
    error = page.locator('[data-error-for="clinical.age_years"]')
    error.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('[data-error-for=\"clinical.age_years\"]').textContent"
        ".length > 0", timeout=60_000)
    assert "outside the plausible range" in error.inner_text()
    assert "invalid" in (page.get_attribute("#field-age_years", "class") or "")
