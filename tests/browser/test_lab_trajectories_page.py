"""The trained-network landscape page in Debian's chromium: both slices drawn with their
paths, the sharpness table filled, the toy paths beside them, presets in the URL, the
cache on reload, a busy indicator while training, and a 422 shown on the page.
Screenshots go to tests/artifacts/."""

import time
from urllib.parse import parse_qs, urlparse

import pytest
from lab_harness import lab_server, shoot

pytestmark = pytest.mark.browser

COMPARED = "() => document.body.dataset.compared !== undefined"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab server with an empty landscape cache of its own."""
    cache = tmp_path_factory.mktemp("cache")
    with lab_server(env={"FITSCOPE_CACHE": str(cache)}) as server:
        yield server


def traces(page, plot_id: str) -> list[dict]:
    return page.evaluate("(id) => document.getElementById(id).data.map((t) => ({name: t.name, "
                         "type: t.type ?? 'scatter', n: (t.x ?? []).length}))", plot_id)


def open_and_time(page, url: str) -> float:
    """Seconds from navigation until both slices, the table and the toy are drawn."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(COMPARED, timeout=120_000)
    return time.perf_counter() - t0


def test_default_comparison_draws_both_slices_the_numbers_and_the_toy(lab, tab):
    page = tab.page
    cold = open_and_time(page, f"{lab.url}/trajectories")
    # Run A's and Run B's fields come from one template, with the page's defaults
    assert page.evaluate("() => [...document.querySelectorAll('#form legend')]"
                         ".map((l) => l.textContent)") == ["Run A", "Run B", "Both"]
    state = parse_qs(urlparse(page.url).query)
    assert {k: v[0] for k, v in state.items() if k[:2] in ("a_", "b_")} == {
        "a_optimizer": "adam", "a_lr": "0.01", "a_batch": "64", "a_noise": "0",
        "b_optimizer": "adam", "b_lr": "0.01", "b_batch": "64", "b_noise": "0.05"}
    for side in ("a", "b"):
        drawn = traces(page, f"slice-{side}")
        assert [t["name"] for t in drawn] == ["loss", "training path", "initialization",
                                              "trained weights"]
        assert drawn[0]["type"] == "contour" and drawn[0]["n"] == 25
        assert drawn[1]["n"] > 50  # about 100 snapshots along the path
        xtitle = page.evaluate(f"() => document.querySelector('#slice-{side}')"
                               ".layout.xaxis.title.text")
        assert xtitle.startswith("PC1 (") and "% of the path" in xtitle
    assert "no weight noise" in page.inner_text("#slice-a")
    assert "weight noise 0.05" in page.inner_text("#slice-b")
    table = page.inner_text("#numbers")
    assert "top Hessian eigenvalue" in table and "α\u00a0=\u00a00.05" in table and "±" in table
    assert [t["name"] for t in traces(page, "toy")][1:] == ["adam", "minimum"]
    assert len(traces(page, "curves")) == 4
    assert "trained and measured" in page.inner_text("#note-a")
    shoot(page, "trajectories-default")
    warm = open_and_time(page, page.url)
    assert "both from the cache" in page.inner_text("#status")
    assert "read from the cache" in page.inner_text("#note-b")
    print(f"\ntrajectories page, default comparison: {cold:.2f} s to draw from an empty cache "
          f"(two runs trained), {warm:.2f} s on reload (cached)")
    assert warm < cold
    assert tab.errors == []


def test_a_preset_goes_into_the_url_shows_progress_and_races_both_optimizers(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/trajectories?epochs=40")
    page.wait_for_function(COMPARED, timeout=120_000)
    page.evaluate("""() => {
        window.stages = [];
        new MutationObserver(() => window.stages.push(
            document.querySelector('#stage').textContent)).observe(
            document.querySelector('#stage'), {childList: true, characterData: true,
                                               subtree: true});
    }""")
    page.click("#presets button[data-preset='optimizer']")
    assert page.is_visible("#busy")  # shown at once, before any answer
    shoot(page, "trajectories-busy")
    page.wait_for_function("() => document.body.dataset.compared.includes('a_optimizer=sgd')",
                           timeout=120_000)
    assert not page.is_visible("#busy")
    state = parse_qs(urlparse(page.url).query)
    assert state["a_optimizer"] == ["sgd"] and state["b_optimizer"] == ["adam"]
    assert state["epochs"] == ["40"]
    stages = page.evaluate("() => window.stages")
    assert any(s.startswith(("run A", "run B")) for s in stages), stages
    # figures are drawn on the next animation frame after the answer: wait for the toy's
    page.wait_for_function("() => ['sgd', 'adam'].every((n) => (document.getElementById("
                           "'toy').data || []).some((t) => t.name === n))", timeout=10_000)
    assert {t["name"] for t in traces(page, "toy")} >= {"sgd", "adam"}
    assert "sgd, lr 0.1" in page.inner_text("#slice-a")
    shoot(page, "trajectories-sgd-vs-adam")
    # the link reproduces the view
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_function(COMPARED, timeout=60_000)
    assert other.input_value("select[name='a_optimizer']") == "sgd"
    assert other.inner_text("#numbers") == page.inner_text("#numbers")
    other.close()
    assert tab.errors == []


def test_bad_settings_show_the_servers_message_and_no_traceback(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/trajectories?a_batch=1&epochs=200")
    page.wait_for_function("() => document.querySelector('#error').innerText.length > 0",
                           timeout=30_000)
    error = page.inner_text("#error")
    assert "a_batch" in error and "at most 3000" in error and "Traceback" not in error
    assert not page.is_visible("#busy")
    shoot(page, "trajectories-error")
    # the only console error is the browser's note of the 422 response
    assert all("422" in e for e in tab.errors)


def test_a_run_that_has_not_converged_gets_a_caveat_beside_the_sharpness(lab, tab):
    page = tab.page
    # Adam at batch 64: a plateau after 100 epochs, still falling after 30 (both runs alike)
    page.goto(f"{lab.url}/trajectories?epochs=100&b_noise=0")
    page.wait_for_function(COMPARED, timeout=120_000)
    assert page.inner_text("#caveat") == "" and not page.is_visible("#caveat")
    assert "converged\tyes\tyes" in page.inner_text("#numbers")
    page.goto(f"{lab.url}/trajectories?epochs=30&b_noise=0&b_batch=512")
    page.wait_for_function(COMPARED, timeout=120_000)
    caveat = page.inner_text("#caveat")
    assert page.is_visible("#caveat") and caveat.startswith("Not converged: run A (")
    assert "run B (its training loss fell" in caveat and "raise the epochs" in caveat
    assert page.get_attribute("#caveat", "aria-live") == "polite"
    assert "converged\tno\tno" in page.inner_text("#numbers")
    shoot(page, "trajectories-not-converged")
    assert tab.errors == []
