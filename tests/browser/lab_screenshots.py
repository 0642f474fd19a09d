"""Screenshots of every lab page for docs/lab.md: 1366 x 768 (a laptop) and 390 x 844
(a phone), the visible screen only, as 256-colour PNGs in docs/img/lab-<page>-<size>.png.

    python tests/browser/lab_screenshots.py

Starts its own lab (with a store of two small runs for the Runs page), trains the live
pages on small runs first, and opens Runs with both runs picked."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from lab_harness import CHROMIUM, CHROMIUM_ARGS, lab_server

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
PAGES = {
    "home": "/",
    "init": "/init?model.depth=6&budget.epochs=40&data.n_samples=500",
    "landscape": "/landscape?penalty=l1&lam=0.8",
    "optimizers": "/optimizers?surface=ravine",
    "trajectories": "/trajectories",
    "overfitting": "/overfitting?budget.epochs=150",
    "runs": "/runs",
}


def store(path: Path) -> None:
    from fitscope import RunConfig, train
    from fitscope.study import Store
    from fitscope.study.store import store_record

    base = RunConfig.model_validate({"data": {"n_samples": 300}, "model": {"depth": 3},
                                     "budget": {"epochs": 15}, "observe": {"probe_every": 5}})
    with Store(path) as s:
        for init in ({"init.scheme": "kaiming_normal"},
                     {"init.scheme": "normal", "init.std": 0.01}):
            s.put(store_record(train(base.with_overrides(init))))


def shoot_page(page, name: str, url: str, base: str) -> None:
    page.goto(base + url)
    page.wait_for_load_state("networkidle")
    if name in ("init", "overfitting"):
        page.click("#train")
        page.wait_for_function("() => document.querySelector('#status').innerText"
                               ".startsWith('finished')", timeout=120_000)
    if name == "trajectories":
        page.wait_for_function("() => document.body.dataset.compared", timeout=120_000)
    if name == "runs":
        page.locator("input[name='pick-a']").nth(0).check()
        page.locator("input[name='pick-b']").nth(1).check()
        page.wait_for_function("() => document.querySelectorAll('#compare tbody tr').length")
    page.wait_for_timeout(2500)  # animations (the optimizers' race) end
    page.evaluate("() => window.Lab?.drawn()")


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite"
        store(db)
        with lab_server("--store", str(db), env={"FITSCOPE_CACHE": tmp}) as lab, \
                sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                        args=CHROMIUM_ARGS)
            for size, (w, h) in SIZES.items():
                page = browser.new_page(viewport={"width": w, "height": h})
                for name, url in PAGES.items():
                    shoot_page(page, name, url, lab.url)
                    if size == "phone" and name in ("init", "overfitting"):
                        page.evaluate("() => document.querySelector('#loss').closest"
                                      "('.figure').scrollIntoView()")  # a plot after Train
                    elif size == "phone" and name == "trajectories":
                        page.click("#compare")  # as Train and compare leaves it
                        page.wait_for_timeout(1000)
                        page.evaluate("() => window.Lab?.drawn()")
                    elif not (size == "phone" and name == "runs"):  # a pick brings a plot
                        page.evaluate("() => window.scrollTo(0, 0)")
                    path = OUT / f"lab-{name}-{size}.png"
                    page.screenshot(path=str(path))
                    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
                    print(f"{path.relative_to(OUT.parents[1])}: {path.stat().st_size // 1024} KiB")
                page.close()
            browser.close()


if __name__ == "__main__":
    main()
