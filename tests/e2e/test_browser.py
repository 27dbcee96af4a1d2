"""The clinician's page in a real browser (Debian's Chromium driven by Playwright): fill the form,
upload a synthetic series, see the contour, each risk beside its model's operating characteristics,
the survival curves and the warnings; the result disappears when the next submission starts and
stays gone when that one fails; errors appear next to the field that caused them."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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


def _source(cohort: Path, n: int) -> str:
    facts = json.loads((cohort / "cohort.json").read_text())
    return (f"held-out test split ({n} patients) of the {facts['source']}, seed {facts['seed']} "
            f"({facts['patients']} patients)")


def _served_classifier(entry: dict[str, Any], cohort: Path) -> dict[str, Any]:
    """A ``metrics.served`` block from the figures every classifier entry records on its test
    split (sensitivity and specificity at the threshold, n_test, positives_test), for bundles
    trained before the trainers wrote the block themselves."""
    metrics = entry["metrics"]
    n, positives = int(metrics["n_test"]), int(metrics["positives_test"])
    negatives = n - positives
    tp = round((metrics["sensitivity"]["value"] or 0.0) * positives)
    tn = round((metrics["specificity"]["value"] or 0.0) * negatives)
    fp, fn = negatives - tn, positives - tp

    def share(k: int, of: int) -> dict[str, Any]:
        return {"value": k / of if of else None, "ci95": None, "count": [k, of]}

    return {"source": _source(cohort, n), "cohort": cohort.name, "split": "test",
            "patients": n, "positives": positives,
            "reliable": min(positives, negatives) >= 10, "threshold": entry["threshold"],
            "auc": {"value": metrics["auc"]["value"], "ci95": None},
            "sensitivity": share(tp, positives), "specificity": share(tn, negatives),
            "ppv": share(tp, tp + fp), "npv": share(tn, tn + fn), "oracle_auc": None}


def _served_survival(entry: dict[str, Any], cohort: Path) -> dict[str, Any]:
    """The same for a survival entry, from its test-split n, events, Harrell's C and IBS."""
    metrics = entry["metrics"]
    return {"source": _source(cohort, metrics["n"]), "cohort": cohort.name, "split": "test",
            "patients": metrics["n"], "events": metrics["events"],
            "reliable": metrics["events"] >= 10,
            "c_index": {"value": metrics["harrell_c"], "ci95": None},
            "integrated_brier_score": {"value": metrics.get("ibs"), "ci95": None},
            "oracle_c_index": None}


@pytest.fixture(scope="module")
def served_bundle(system, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The system's bundle with every classifier's and survival model's served figures (kept
    where training wrote them) and, for every image model, a training range of the lesion
    volume that this patient's lesion exceeds; the classifier and survival services serve it
    during this module and the original bundle again afterwards."""
    original = Path(system.env["CERVIXAI_BUNDLE"])
    copy = tmp_path_factory.mktemp("browser-bundle") / "bundle"
    shutil.copytree(original, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for name, entry in manifest["models"].items():
        if name.startswith("classifier."):
            entry["metrics"].setdefault("served", _served_classifier(entry, system.cohort))
        if name.startswith("survival."):
            entry["metrics"].setdefault("served", _served_survival(entry, system.cohort))
        if name.split(".")[0] in ("classifier", "survival") and entry["feature_set"] != "clinical":
            ranges = entry["parameters"].setdefault("image_feature_ranges", {})
            ranges["shape_volume_ml"] = [0.0, 0.001]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _serve(system, copy)
    yield copy
    _serve(system, original)


def _serve(system, bundle: Path) -> None:
    system.env["CERVIXAI_BUNDLE"] = str(bundle)
    for name, service in (("classifier", "cervix.v1.Classifier"),
                          ("survival", "cervix.v1.Survival")):
        system.processes[name].stop()
        system.restart(name).wait_serving(service, timeout=120)
    deadline = time.monotonic() + 30
    while httpx.get(f"{system.http_url}readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not see the restarted backends"
        time.sleep(0.2)


# The page's own fetch, held back until the test releases it: what the page shows while a
# submission runs can then be checked however fast the gateway answers.
HOLD_ASSESSMENTS = """() => {
    window.releaseAssessment = null;
    const fetchNow = window.fetch.bind(window);
    window.fetch = (url, options) => String(url).includes("/v1/assessments")
        ? new Promise((resolve) => {
            window.releaseAssessment = () => resolve(fetchNow(url, options)); })
        : fetchNow(url, options);
}"""
ERROR_RED = "rgb(179, 38, 30)"


def _fill(page, record: dict[str, object]) -> None:
    for name, value in record.items():
        selector = f"#field-{name}"
        if page.locator(selector).count() == 0:
            continue
        if page.locator(selector).evaluate("el => el.tagName") == "SELECT":
            page.select_option(selector, str(value))
        else:
            page.fill(selector, str(value))


def _assess_postoperative(browser, system):  # type: ignore[no-untyped-def]
    """A page that has submitted the system's postoperative study and shows the result."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(system.http_url)
    page.check("input[name=stage][value=postoperative]")
    _fill(page, system.record)
    page.set_input_files("#files", [str(p) for p in system.series_files])
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    return page


def test_postoperative_assessment_in_the_browser(browser, system, served_bundle: Path,
                                                 tmp_path: Path) -> None:
    page = _assess_postoperative(browser, system)
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

    # each risk beside its model's operating characteristics at the threshold
    models = json.loads((served_bundle / "manifest.json").read_text())["models"]
    for i in range(rows.count()):
        row = rows.nth(i)
        task = (row.get_attribute("data-task") or "").removeprefix("TASK_").lower()
        served = models[f"classifier.{task}"]["metrics"]["served"]
        text = row.inner_text()
        for name, label in (("sensitivity", "sensitivity"), ("specificity", "specificity"),
                            ("ppv", "PPV")):
            k, n = served[name]["count"]
            assert f"{label} " in text and f"({k}/{n})" in text, (task, name, text)
        assert (f"n = {_count(served['patients'], 'patient')}, "
                f"{_count(served['positives'], 'positive')}") in text
        assert ("not reliable: " in text) == (not served["reliable"]), text
        if not served["reliable"]:
            scarce = min(served["positives"], served["patients"] - served["positives"])
            assert "not reliable: " + (_count(scarce, "positive") if scarce == served["positives"]
                                       else _count(scarce, "negative")) in text
        flag = row.locator(".flag, .below")
        assert flag.inner_text() in ("above the operating threshold",
                                     "below the operating threshold")
        # a neutral flag: no risk is shown in the colour of errors
        for cell in row.locator("td").all():
            assert cell.evaluate("el => getComputedStyle(el).color") != ERROR_RED
        assert flag.evaluate("el => getComputedStyle(el).color") != ERROR_RED
    assert "Figures from: held-out test split" in page.inner_text("#risk-sources")
    survival = page.locator("#survival tbody tr")
    for i, outcome in enumerate(("rfs", "os")):
        served = models[f"survival.{outcome}"]["metrics"]["served"]
        text = survival.nth(i).inner_text()
        assert f"C-index {served['c_index']['value']:.2f}" in text, text
        assert (f"n = {_count(served['patients'], 'patient')}, "
                f"{_count(served['events'], 'event')}") in text, text
        assert ("not reliable: " in text) == (not served["reliable"]), text
    # the curves have a legend beside the plot, one entry per curve
    assert page.locator("#curves-legend li").all_inner_texts() == [
        "Recurrence-free survival", "Overall survival"]
    warnings = page.inner_text("#warnings")
    image_models = [name.split(".", 1)[1] for name, entry in models.items()
                    if entry["feature_set"] != "clinical" and not name.startswith("segmenter")]
    for model in image_models:
        assert f"{model}: image features outside the training range: shape_volume_ml (" in warnings
    shot = Path(__file__).resolve().parents[2] / "docs" / "img" / "web-page.png"
    if os.environ.get("CERVIXAI_UPDATE_SCREENSHOT"):
        page.screenshot(path=str(shot), full_page=True)
    page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)
    assert (tmp_path / "web-page.png").stat().st_size > 10_000

    # The next submission fails (not a DICOM file): the first patient's result goes as soon as
    # it starts, and stays gone after the error.
    request_id = page.inner_text("#request-id")
    assert request_id
    notes = tmp_path / "notes.txt"
    notes.write_text("not an MR series")
    page.evaluate(HOLD_ASSESSMENTS)
    page.set_input_files("#files", [str(notes)])
    page.click("#submit")
    page.wait_for_function("() => window.releaseAssessment !== null", timeout=10_000)
    assert page.locator("#result").is_hidden()
    assert page.inner_text("#status") == "Assessing…"
    _assert_no_result(page, request_id)
    page.evaluate("() => window.releaseAssessment()")
    page.wait_for_function("() => !document.getElementById('submit').disabled",
                           timeout=60_000)
    assert page.inner_text('[data-error-for="files"]')
    assert page.inner_text("#status").startswith("No result")
    assert page.locator("#result").is_hidden()
    _assert_no_result(page, request_id)
    page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)


def _count(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _assert_no_result(page, request_id: str) -> None:
    """Nothing of the previous result is left in the page, hidden or not."""
    assert page.locator("#risks tbody tr").count() == 0
    assert page.locator("#survival tbody tr").count() == 0
    assert page.locator("#warnings li").count() == 0
    assert request_id not in page.content()


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


def test_the_results_to_file_can_be_downloaded(browser, system, tmp_path: Path) -> None:
    """After an assessment the page links the DICOM SEG, the DICOM SR and the FHIR Bundle
    (Blob URLs of the reply's objects); the links go with the result when other files are
    chosen."""
    page = _assess_postoperative(browser, system)
    links = page.locator("#downloads a[download]")
    assert links.count() == 3
    assert [links.nth(i).get_attribute("download") for i in range(3)] == [
        "segmentation.dcm", "report.dcm", "bundle.json"]
    assert [links.nth(i).get_attribute("data-kind") for i in range(3)] == [
        "RESULT_KIND_DICOM_SEG", "RESULT_KIND_DICOM_SR", "RESULT_KIND_FHIR"]
    assert page.locator("#downloads-block").is_visible()
    # each link holds its object: DICOM files with their preamble and "DICM", the FHIR JSON
    heads = page.evaluate("""async () => Promise.all(
        [...document.querySelectorAll('#downloads a')].map(async (a) => {
            const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
            return [a.href.startsWith('blob:'), bytes.length,
                    String.fromCharCode(...bytes.slice(128, 132)),
                    String.fromCharCode(...bytes.slice(0, 1))]; }))""")
    assert [h[0] for h in heads] == [True, True, True]
    assert [h[2] for h in heads[:2]] == ["DICM", "DICM"] and heads[2][3] == "{"
    with page.expect_download() as info:
        links.nth(2).click()
    saved = tmp_path / "bundle.json"
    info.value.save_as(saved)
    assert json.loads(saved.read_text())["resourceType"] == "Bundle"
    notes = tmp_path / "notes.txt"
    notes.write_text("another patient's files")
    page.set_input_files("#files", [str(notes)])
    assert page.locator("#downloads a").count() == 0
    assert page.locator("#downloads-block").is_hidden()


def test_the_page_and_the_api_docs_work_with_authentication_on(browser, system,
                                                               tmp_path: Path) -> None:
    """A gateway that needs bearer tokens (keys from a JWKS file, a token signed here): the page
    works when every request carries the token, as an authenticating proxy in front of the
    gateway sends it; /docs (Swagger UI from the gateway itself) renders the API from
    /openapi.json under the strict CSP, with no request leaving loopback."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from cervixai.processes import ServiceProcess, free_port

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**public, "kid": "k1"}]}))
    issuer, audience = "https://idp.test/realms/hospital", "cervixai-gateway"
    now = int(time.time())
    token = jwt.encode({"iss": issuer, "aud": audience, "sub": "dr-browser", "iat": now,
                        "exp": now + 600, "scope": "cervixai.assess cervixai.read"}, key,
                       algorithm="RS256", headers={"kid": "k1"})
    http_port = free_port()
    env = {**system.env, "CERVIXAI_GATEWAY_PORT": str(free_port()),
           "CERVIXAI_GATEWAY_HTTP_PORT": str(http_port), "CERVIXAI_GATEWAY_AUTH": "jwt",
           "CERVIXAI_GATEWAY_AUTH_ISSUER": issuer, "CERVIXAI_GATEWAY_AUTH_AUDIENCE": audience,
           "CERVIXAI_GATEWAY_AUTH_JWKS_FILE": str(tmp_path / "jwks.json"),
           "CERVIXAI_GATEWAY_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    gateway = ServiceProcess("gateway", int(env["CERVIXAI_GATEWAY_PORT"]), env,
                             tmp_path / "gateway.log")
    url = f"http://127.0.0.1:{http_port}/"
    try:
        gateway.wait_serving("", timeout=60)
        gateway.wait_http(http_port)
        assert httpx.get(f"{url}v1/schema", timeout=2).status_code == 401
        context = browser.new_context(viewport={"width": 1280, "height": 1100},
                                      extra_http_headers={"Authorization": f"Bearer {token}"})
        hosts, violations = set(), []
        page = context.new_page()
        page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.goto(url)
        page.check("input[name=stage][value=preoperative]")
        _fill(page, system.preoperative)
        page.set_input_files("#files", [str(p) for p in system.series_files])
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        page.goto(f"{url}docs")
        page.wait_for_selector(".opblock", timeout=60_000)
        assert page.locator(".opblock").count() >= 5
        assert "/v1/assessments" in page.inner_text("#swagger-ui")
        context.close()
        assert hosts == {f"127.0.0.1:{http_port}"} and violations == []
        audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text()
                 .splitlines()]
        assert [a["caller"] for a in audit if a.get("audit") == "assessment"] == ["dr-browser"]
    finally:
        gateway.stop()
