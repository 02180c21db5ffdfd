#!/usr/bin/env python3
"""Issue 22: the page of `faketagger serve`, driven in a real browser (Debian's headless Chromium
through chromedriver and Selenium).

1. tags the bundled astronaut through the page (file input, "Tag photos"), downloads the tagged
   copy, decodes the downloaded file with the CLI and checks it carries the tag the page showed;
2. checks that file through the page's "Check a photo" (tagged, not registered) and the untouched
   photo (no tag);
3. registers a photo only after ticking "register" (the server is started with --register), then
   checks the downloaded copy (the registered photo, its owner shown);
4. shows a file that is not a photo as an error in words;
5. from another origin (a second server on loopback), the browser's own cross-site requests to the
   keyless endpoint fail and nothing is tagged or registered;
6. every form control has a label, the page is usable with the keyboard (Tab reaches the controls).

Prints the measurements (page weight, time per photo) and, with --screenshot, saves the page.

Usage: python3 tests/browser/page_test.py --faketagger target/debug/faketagger
           [--photo assets/astronaut.jpg] [--screenshot docs/web-page.png]
"""

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Debug builds of the engine are slow: a 512 px photo with faces takes seconds there.
TIMEOUT_S = 300


# Each visible element's own text: its colour against the first opaque background behind it.
CONTRAST_SCRIPT = """
const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
const luminance = ([r, g, b]) => {
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (node) => {
  for (; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] === 1) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const node of document.querySelectorAll("body *")) {
  const own = [...node.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !node.offsetParent || node.disabled || node.closest("[disabled]")) continue;
  const style = getComputedStyle(node);
  if (parseFloat(style.opacity) < 1) continue;
  const [a, b] = [luminance(rgb(style.color)), luminance(background(node))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(`${node.tagName}.${node.className} ${ratio.toFixed(2)}`);
}
return low;
"""


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}")


def start_server(binary, home):
    """`faketagger serve` on a free loopback port, with --register; (process, base URL)."""
    env = dict(os.environ, FAKETAGGER_HOME=str(home))
    subprocess.run([binary, "keys", "new", "desk"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--quiet", "--register"],
        env=env, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        server.kill()
        fail(f"unexpected first line of serve: {line!r}")
    return server, line.removeprefix("listening on ")


def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={downloads.parent / 'profile'}", "--window-size=1280,2000"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def wait_for_card(driver, list_id, count):
    """Waits until the list holds `count` cards; the newest one."""
    WebDriverWait(driver, TIMEOUT_S).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, f"#{list_id} > li")) >= count)
    cards = driver.find_elements(By.CSS_SELECTOR, f"#{list_id} > li")
    # tagging appends, checking prepends
    return cards[-1] if list_id == "results" else cards[0]


def wait_for_download(folder, name):
    path = folder / name
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.exists() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.1)
    fail(f"no download {name} in {folder} (has {sorted(p.name for p in folder.iterdir())})")


def decode_with_cli(binary, path):
    out = subprocess.run([binary, "decode", "--json", str(path)], capture_output=True, text=True)
    if out.returncode not in (0, 1):
        fail(f"faketagger decode {path}: exit {out.returncode}: {out.stderr}")
    report = json.loads(out.stdout)
    return report[0] if isinstance(report, list) else report


def tag_through_page(driver, photo, register_owner=None):
    """Chooses `photo`, (ticks register), clicks "Tag photos"; the result card and seconds."""
    count = len(driver.find_elements(By.CSS_SELECTOR, "#results > li"))
    picker = driver.find_element(By.ID, "files")
    picker.clear()  # send_keys adds to a `multiple` picker's files
    picker.send_keys(str(photo))
    if register_owner is not None:
        box = driver.find_element(By.ID, "register")
        if not box.is_selected():
            box.click()
        owner = driver.find_element(By.ID, "owner")
        owner.clear()
        owner.send_keys(register_owner)
    elif driver.find_element(By.ID, "register").is_selected():
        driver.find_element(By.ID, "register").click()
    button = driver.find_element(By.ID, "tag-button")
    check(button.is_enabled(), f"'Tag photos' is enabled once {photo.name} is chosen")
    started = time.perf_counter()
    button.click()
    card = wait_for_card(driver, "results", count + 1)
    return card, time.perf_counter() - started


def check_through_page(driver, photo):
    count = len(driver.find_elements(By.CSS_SELECTOR, "#checks > li"))
    picker = driver.find_element(By.ID, "check-files")
    picker.clear()
    picker.send_keys(str(photo))
    driver.find_element(By.ID, "check-button").click()
    return wait_for_card(driver, "checks", count + 1)


def records(base):
    with urllib.request.urlopen(f"{base}/health", timeout=30) as answer:
        return json.load(answer)["records"]


def cross_site_attempts(driver, base, token_guess):
    """From a page of another origin, the browser's own requests to the keyless endpoint."""
    folder = Path(tempfile.mkdtemp(prefix="faketagger-othersite-"))
    (folder / "index.html").write_text("<!doctype html><title>another site</title><p>elsewhere")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = lambda *a, **k: Quiet(*a, directory=str(folder), **k)
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        driver.get(f"http://localhost:{other.server_address[1]}/index.html")
        script = """
            const [target, token, done] = arguments;
            const body = JSON.stringify({image: "AAAA", tag: "0000000000000001"});
            const outcome = async (init) => {
              try { const r = await fetch(target + "/v1/embed", init);
                    return "answered " + r.status; }
              catch (e) { return "blocked"; }
            };
            Promise.all([
              // what a hostile page would send: the page's header (preflighted), JSON
              outcome({method: "POST", body, headers: {"Content-Type": "application/json",
                       "X-Faketagger-Page-Token": token}}),
              // a "simple" request the browser sends without asking: no token, no JSON type
              outcome({method: "POST", body, mode: "no-cors"}),
            ]).then(done);
        """
        results = driver.execute_async_script(script, base, token_guess)
    finally:
        other.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faketagger", required=True)
    parser.add_argument("--photo", default="assets/astronaut.jpg")
    parser.add_argument("--screenshot")
    parser.add_argument("--faces", choices=["auto", "off", "only"], default="auto",
                        help="the page's Faces option for the photos tagged")
    args = parser.parse_args()
    binary = str(Path(args.faketagger).resolve())
    photo = Path(args.photo).resolve()

    work = Path(tempfile.mkdtemp(prefix="faketagger-page-"))
    downloads = work / "downloads"
    downloads.mkdir()
    server, base = start_server(binary, work / "home")
    driver = None
    try:
        driver = browser(downloads)
        driver.set_script_timeout(60)
        driver.get(base + "/")
        check(driver.title.startswith("faketagger"), "the page loads at /")
        weight = driver.execute_script("""
            return performance.getEntriesByType("navigation").concat(
              performance.getEntriesByType("resource")).map(e => [e.name, e.transferSize]);""")
        total = sum(size for _, size in weight)
        print(f"page weight: {total} bytes over {len(weight)} requests: "
              + ", ".join(f"{name.removeprefix(base)} {size}" for name, size in weight))
        check(all(name.startswith(base) for name, _ in weight), "nothing is fetched from elsewhere")
        check(not driver.find_element(By.ID, "noscript").is_displayed(), "the script ran")

        # 6. labels and keyboard
        unlabeled = driver.execute_script("""
            return [...document.querySelectorAll("input, select, button")]
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                           && !(e.tagName === "BUTTON" && e.textContent.trim()))
              .map(e => e.id || e.outerHTML);""")
        check(unlabeled == [], f"every control has a label (unlabeled: {unlabeled})")
        reached = []
        for _ in range(12):
            ActionChains(driver).send_keys(Keys.TAB).perform()
            reached.append(driver.switch_to.active_element.get_attribute("id"))
        check("files" in reached, f"Tab reaches the photo picker (focus went {reached})")

        # 1. tag, download, decode the download with the library (the CLI)
        driver.find_element(By.ID, "options").click()
        Select(driver.find_element(By.ID, "faces")).select_by_value(args.faces)
        card, seconds = tag_through_page(driver, photo)
        if card.get_attribute("data-state") != "done":
            fail(f"tagging failed on the page: {card.text}")
        tag = card.get_attribute("data-tag")
        psnr = card.find_element(By.CSS_SELECTOR, ".psnr").text
        print(f"tagged {photo.name} through the page in {card.get_attribute('data-ms')} ms "
              f"(file read to copy ready; {seconds:.2f} s seen by WebDriver's polling): tag {tag}, "
              f"PSNR {psnr}")
        check(len(tag) == 16, "the page shows the tag")
        check(records(base) == 0, "nothing registered without the user ticking 'register'")
        link = card.find_element(By.CSS_SELECTOR, "a.download")
        name = link.get_attribute("download")
        link.click()
        downloaded = wait_for_download(downloads, name)
        report = decode_with_cli(binary, downloaded)
        check(report.get("tag") == tag,
              f"the downloaded {name} decodes (faketagger decode) to the page's tag {tag}")
        # before/after view and zoom
        card.find_element(By.CSS_SELECTOR, "input[value=before]").click()
        check("Original" in card.find_element(By.CSS_SELECTOR, ".frame img").get_attribute("alt"),
              "the viewer shows the original")
        card.find_element(By.CSS_SELECTOR, "input[value=after]").click()
        zoom = card.find_element(By.CSS_SELECTOR, ".zoom select")
        zoom.send_keys("200%")
        check(card.find_element(By.CSS_SELECTOR, ".frame img").get_attribute("class") == "zoomed",
              "the viewer zooms")

        # contrast of the text as rendered (WCAG 2: at least 4.5:1), on the page with results
        low = driver.execute_script(CONTRAST_SCRIPT)
        check(low == [], f"every text has a contrast of at least 4.5:1 (lower: {low})")

        # 2. the decode flow
        checked = check_through_page(driver, downloaded)
        check(checked.get_attribute("data-verdict") == "unregistered"
              and checked.get_attribute("data-tag") == tag,
              f"'Check a photo' reads the tag of the downloaded copy ({checked.text.splitlines()[1:3]})")
        checked = check_through_page(driver, photo)
        check(checked.get_attribute("data-verdict") == "no_tag",
              "'Check a photo' says the untouched photo has no tag")

        if args.screenshot:
            zoom.send_keys("Fit")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, height + 100)
            driver.execute_script("window.scrollTo(0, 0)")
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
            driver.set_window_size(1280, 2000)
            print(f"screenshot: {args.screenshot}")

        # 3. registering, only by the user's explicit action
        card, _ = tag_through_page(driver, photo, register_owner="Ada Lovelace")
        if card.get_attribute("data-state") != "done":
            fail(f"registering failed on the page: {card.text}")
        check(records(base) == 1, "ticking 'register' registers the photo")
        link = card.find_element(By.CSS_SELECTOR, "a.download")
        link.click()
        registered = wait_for_download(downloads, link.get_attribute("download"))
        checked = check_through_page(driver, registered)
        check(checked.get_attribute("data-verdict") == "original" and "Ada Lovelace" in checked.text,
              "the registered copy checks as the registered photo, with its owner")

        # 4. errors in words
        bogus = work / "not-a-photo.jpg"
        bogus.write_bytes(b"this is not a photo")
        driver.find_element(By.ID, "register").click()  # untick
        card, _ = tag_through_page(driver, bogus)
        text = card.find_element(By.CSS_SELECTOR, ".error").text
        check(card.get_attribute("data-state") == "error" and "could not be read as a photo" in text,
              f"a file that is not a photo is an error in words ({text!r})")

        # 5. another web site's requests, in the browser
        token = driver.execute_script(
            "return JSON.parse(document.getElementById('config').textContent).token")
        before = records(base)
        outcomes = cross_site_attempts(driver, base, token)
        check(outcomes[0] == "blocked",
              f"another site's JSON request with the page's header is blocked ({outcomes[0]})")
        check(outcomes[1] in ("blocked", "answered 0"),
              f"another site's simple request gets nothing back ({outcomes[1]})")
        check(records(base) == before, "nothing was registered by another site")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print("page test passed")


if __name__ == "__main__":
    main()
