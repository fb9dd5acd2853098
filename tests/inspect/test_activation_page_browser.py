"""The activation viewer in a real browser: headless Chromium opens the page, the console
shows no errors, switching the neuron changes the colours, and a screenshot is saved.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them) and selenium;
without them the test is skipped with the reason.
"""

from __future__ import annotations

import shutil

import pytest

from rnnkit.cli.main import main
from rnnkit.runs import train_run

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TEXT = 'she said "hi" (then [left]).\nhe said "no" (twice)!\n' * 20


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--window-size=1200,900",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def colours(driver) -> list[str]:
    script = "return Array.from(document.querySelectorAll('#text span')).slice(0, 200).map(s => s.style.backgroundColor);"
    return driver.execute_script(script)


def test_the_page_works_in_headless_chromium(browser, tmp_path):
    run_dir = tmp_path / "run"
    model = {"cell": "lstm", "num_layers": 2, "hidden_size": 16, "embedding_size": 8}
    data = {"level": "char", "batch_size": 4, "seq_len": 20}
    train = {"lr": 1e-2, "max_steps": 30, "eval_every": 30, "progress": False}
    train_run("lm", run_dir, raw=TEXT, data=data, model=model, train=train)
    (tmp_path / "sample.txt").write_text(TEXT[:400], encoding="utf-8")
    page = tmp_path / "neurons.html"
    args = ["inspect", "activations", str(run_dir), "--text", str(tmp_path / "sample.txt")]
    assert main([*args, "--html", str(page)]) == 0

    browser.get(page.as_uri())
    before = colours(browser)
    assert len(before) == 200 and len(set(before)) > 5  # coloured, not blank
    browser.find_element("id", "next").click()
    after = colours(browser)
    assert after != before  # neuron 1 colours the text differently from neuron 0
    assert browser.find_element("id", "neuron").get_attribute("value") == "1"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
