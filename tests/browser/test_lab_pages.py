"""The lab in Debian's chromium: every page loads cleanly, live training draws, the
landscape moves, the URL carries the state. Screenshots go to tests/artifacts/."""

from urllib.parse import parse_qs, urlparse

import pytest
from lab_harness import lab_server, shoot

from fitscope import RunConfig, train
from fitscope.study import Store
from fitscope.study.store import store_record

pytestmark = pytest.mark.browser

HAS_LOSS_POINT = "() => document.querySelector('#loss').data?.[0]?.x.length > 0"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab server with a run store of two small runs, for the Runs page."""
    path = tmp_path_factory.mktemp("store") / "runs.sqlite"
    base = RunConfig.model_validate({"data": {"n_samples": 200}, "model": {"depth": 2},
                                     "budget": {"epochs": 8}, "observe": {"probe_every": 5}})
    with Store(path) as store:
        for init in ("kaiming_normal", "zeros"):
            store.put(store_record(train(base.with_overrides({"init.scheme": init}))))
    cache = tmp_path_factory.mktemp("cache")  # the trajectories page caches landscapes
    with lab_server("--store", str(path), env={"FITSCOPE_CACHE": str(cache)}) as server:
        yield server


def wait_drawn(page, selector: str) -> None:
    page.wait_for_selector(f"{selector} .main-svg", timeout=30_000)


READY = {
    "": None, "init": "#loss", "landscape": "#contours", "optimizers": "#surface",
    "trajectories": "#slice-b", "overfitting": "#accuracy", "runs": "#curves",
}


@pytest.mark.parametrize("page", list(READY))
def test_every_page_loads_without_console_errors(lab, tab, page):
    tab.page.goto(f"{lab.url}/{page}")
    if READY[page]:
        wait_drawn(tab.page, READY[page])
    tab.page.wait_for_load_state("networkidle")
    shoot(tab.page, f"page-{page or 'home'}")
    assert tab.errors == []
    assert tab.page.locator("header nav a").count() == 6
    assert tab.page.locator(".explain").inner_text().strip()


def test_train_grows_the_loss_curve_and_changes_the_histograms(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/init?model.depth=5&budget.epochs=60")
    wait_drawn(page, "#loss")
    first_ms, trained_ms = page.evaluate("""() => new Promise((resolve) => {
        const t0 = performance.now();
        const times = [];
        document.querySelector('#train').click();
        const poll = () => {
            const n = document.querySelector('#loss').data?.[0]?.x.length ?? 0;
            while (times.length < Math.min(n, 2)) times.push(performance.now() - t0);
            if (times.length === 2) resolve(times); else requestAnimationFrame(poll);
        };
        poll();
    })""")
    print(f"\nfrom pressing Train: first loss point (the initial weights) after {first_ms:.0f} ms,"
          f" first trained epoch after {trained_ms:.0f} ms")
    assert first_ms < 1000
    page.wait_for_function("() => document.querySelector('#act-hist-0').data?.length > 0")
    first = page.evaluate("() => document.querySelector('#act-hist-0').data[0].z")  # step 0
    points = page.evaluate("() => document.querySelector('#loss').data[0].x.length")
    page.wait_for_function(f"() => document.querySelector('#loss').data[0].x.length > {points + 5}",
                           timeout=30_000)
    page.wait_for_function(
        "(first) => JSON.stringify(document.querySelector('#act-hist').data?.[0]?.z) !== "
        "JSON.stringify(first)", arg=first, timeout=30_000)
    assert len(first) == 5  # one row per hidden layer
    shoot(page, "init-training")
    assert tab.errors == []


def test_zero_init_produces_the_symmetry_finding(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/init?init.scheme=zeros&model.activation=tanh&budget.epochs=5")
    wait_drawn(page, "#loss")
    page.click("#train")
    page.wait_for_function("() => /symmetr/i.test(document.querySelector('#findings').innerText)",
                           timeout=60_000)
    shoot(page, "init-zeros")
    assert tab.errors == []


def test_bad_settings_show_an_error_and_the_connection_stays_up(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/init?budget.epochs=3")
    wait_drawn(page, "#loss")
    page.fill("input[name='model.depth']", "25")  # typed: the box does not stop it
    page.dispatch_event("input[name='model.depth']", "change")
    page.click("#train")
    page.wait_for_function("() => document.querySelector('#error').innerText.length > 0")
    assert "model.depth must be at most 20" in page.inner_text("#error")
    shoot(page, "init-error")
    page.fill("input[name='model.depth']", "2")
    page.dispatch_event("input[name='model.depth']", "change")
    page.click("#train")
    page.wait_for_function(HAS_LOSS_POINT, timeout=30_000)
    assert page.inner_text("#error") == ""


def test_url_holds_the_state_and_reproduces_the_view(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/init?model.depth=9&init.scheme=zeros&budget.seed=3")
    wait_drawn(page, "#loss")
    assert page.input_value("input[name='model.depth']") == "9"
    assert page.input_value("select[name='init.scheme']") == "zeros"
    page.click("#presets button[data-scheme='kaiming_normal']")
    state = parse_qs(urlparse(page.url).query)
    assert state["init.scheme"] == ["kaiming_normal"] and state["budget.seed"] == ["3"]
    assert state["model.depth"] == ["9"]


def test_lambda_slider_with_l1_moves_the_optimum_onto_an_axis(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/landscape?penalty=l1&lam=0.2&cx=2&cy=1&angle=30")
    page.wait_for_selector("#readout[data-zeros='0']")
    w = [float(page.get_attribute("#readout", f"data-w{i}")) for i in (1, 2)]
    assert all(abs(v) > 0.1 for v in w)
    page.fill("input[name='lam']", "1.2")
    page.wait_for_selector("#readout[data-zeros='1']")
    w = [float(page.get_attribute("#readout", f"data-w{i}")) for i in (1, 2)]
    assert w[1] == 0.0 and w[0] > 0.5  # on the w1 axis
    assert parse_qs(urlparse(page.url).query)["lam"] == ["1.2"]
    page.wait_for_function("() => document.querySelector('#logistic-l1').data?.length > 0")
    shoot(page, "landscape-l1-corner")
    page.select_option("select[name='penalty']", "l2")
    page.wait_for_function("() => document.querySelector('#readout').dataset.zeros === '0' "
                           "&& location.search.includes('penalty=l2')")
    assert tab.errors == []


def test_a_link_reproduces_the_landscape_exactly(lab, tab, browser):
    page = tab.page
    url = f"{lab.url}/landscape?penalty=l1&lam=0.7&cx=-1.5&cy=2.5&scale=2&cond=9&angle=-40"
    page.goto(url)
    page.wait_for_selector("#readout[data-w1]")
    first = page.inner_text("#readout")
    other = browser.new_page()
    other.goto(page.url)
    other.wait_for_selector("#readout[data-w1]")
    assert other.inner_text("#readout") == first
    other.close()


def test_clicking_the_surface_restarts_the_race_there(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/optimizers?surface=saddle")
    wait_drawn(page, "#surface")
    box = page.locator("#surface .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    page.wait_for_function("() => location.search.includes('x0=') && "
                           "!location.search.includes('x0=&')")
    x0 = float(parse_qs(urlparse(page.url).query)["x0"][0])
    assert 0.5 < x0 < 2.5  # three quarters across (-2.5, 2.5)
    page.wait_for_function(f"() => document.querySelector('#surface').data"
                           f".some((t) => t.name === 'adam' && Math.abs(t.x[0] - {x0}) < 1e-9)")
    shoot(page, "optimizers-clicked")
    assert tab.errors == []


def test_overfitting_shows_early_stopping_and_the_one_nn_reference(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/overfitting?regularization.early_stopping.enabled=true"
              "&regularization.early_stopping.patience=10&budget.epochs=150")
    wait_drawn(page, "#accuracy")
    page.wait_for_function("() => /1-nearest/.test(document.querySelector('#summary').innerText)")
    page.click("#train")
    page.wait_for_function("() => /restored epoch/.test(document.querySelector('#loss')"
                           ".innerText ?? '') || document.querySelector('#status').innerText"
                           ".startsWith('finished')", timeout=60_000)
    page.evaluate("() => Lab.drawn()")  # figures are drawn at the next animation frame
    assert "restored epoch" in page.inner_text("#loss")
    shoot(page, "overfitting-early-stopping")
    assert tab.errors == []


def test_runs_page_compares_two_stored_runs(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/runs")
    page.wait_for_selector("#runs tbody tr")
    assert page.locator("#runs tbody tr").count() == 2
    page.locator("input[name='pick-a']").nth(0).check()
    page.locator("input[name='pick-b']").nth(1).check()
    page.wait_for_function("() => document.querySelectorAll('#compare tbody tr').length > 0")
    assert page.locator("#compare thead td").count() == 3
    rows = page.evaluate("() => [...document.querySelectorAll('#compare tbody tr')]"
                         ".map((tr) => [...tr.cells].map((c) => c.innerText))")
    assert ["engine", "sequential", "sequential"] in rows  # which engine trained each run
    assert len(page.evaluate("() => document.querySelector('#curves').data")) == 4
    shoot(page, "runs-compare")
    assert tab.errors == []


@pytest.mark.parametrize(("url", "field", "shown", "plot"), [
    ("/landscape?penalty=l3&lam=0.3", "penalty", "l1", "#contours"),
    ("/optimizers?steps=5000", "steps", "200", "#surface"),
    ("/init?model.depth=99&init.scheme=bogus", "model.depth", "6", "#loss"),
    ("/overfitting?data.noise=banana", "data.noise", "0.35", "#accuracy"),
])
def test_an_invalid_url_value_falls_back_to_the_default_and_says_so(lab, tab, url, field,
                                                                     shown, plot):
    page = tab.page
    page.goto(lab.url + url)
    wait_drawn(page, plot)
    page.wait_for_function("() => document.querySelector('#url-note')?.innerText.length > 0")
    note = page.inner_text("#url-note")
    assert field in note and page.is_visible("#url-note"), note
    assert page.input_value(f"[name='{field}']") == shown
    assert parse_qs(urlparse(page.url).query)[field] == [shown]  # the address is corrected
    if "bogus" in url:
        assert "init.scheme" in note
    page.wait_for_load_state("networkidle")
    page.evaluate("() => Lab.drawn()")
    traces = page.evaluate(f"() => document.querySelector('{plot}').data.length")
    assert traces > 0 or plot in ("#loss", "#accuracy")  # trained pages wait for Train
    assert page.inner_text("#error") == ""
    assert tab.errors == []


@pytest.fixture
def phone(browser):
    """A 390 x 844 page (a phone held upright)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, errors
    context.close()


@pytest.mark.parametrize("page_name", list(READY))
def test_no_horizontal_scroll_on_a_phone_and_plots_stacked(lab, phone, page_name):
    page, errors = phone
    page.goto(f"{lab.url}/{page_name}")
    if READY[page_name]:
        wait_drawn(page, READY[page_name])
    page.wait_for_load_state("networkidle")
    if page_name == "runs":
        page.locator("input[name='pick-a']").nth(0).check()
        page.wait_for_function("() => document.querySelectorAll('#compare tbody tr').length > 0")
    page.evaluate("() => Lab.drawn()")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    shoot(page, f"phone-{page_name or 'home'}")
    assert width <= 390, width
    lefts = page.evaluate("() => [...document.querySelectorAll('section.figures > .figure')]"
                          ".filter((f) => f.offsetParent)"
                          ".map((f) => f.getBoundingClientRect().left)")
    assert len(set(lefts)) <= 1, lefts  # one column
    for button in page.locator("button").all():  # every button's label shows in full
        if button.is_visible():
            assert button.evaluate("(b) => b.scrollWidth <= b.clientWidth"), button.inner_text()
    assert errors == []


def train_init(page):
    page.click("#train")


def compare_trajectories(page):
    page.wait_for_function("() => document.body.dataset.compared", timeout=120_000)
    page.click("#compare")


def pick_a_run(page):
    page.locator("input[name='pick-a']").nth(0).check()


@pytest.mark.parametrize("url, plot, act", [
    ("init?budget.epochs=3&data.n_samples=200", "#loss", train_init),
    ("trajectories?epochs=3", "#slice-a", compare_trajectories),
    ("runs", "#curves", pick_a_run),
], ids=["init", "trajectories", "runs"])
def test_a_plot_is_in_view_after_train_on_a_phone(lab, phone, url, plot, act):
    """The controls come first on a phone: Train (Train and compare, a run picked)
    brings the first plot wholly into view, with no horizontal scroll."""
    page, errors = phone
    page.goto(f"{lab.url}/{url}")
    wait_drawn(page, plot)
    page.wait_for_load_state("networkidle")
    box = f"() => document.querySelector('{plot}').getBoundingClientRect().toJSON()"
    assert page.evaluate(box)["top"] > 844 or page.evaluate(box)["bottom"] > 844  # below
    act(page)
    page.wait_for_timeout(300)
    seen = page.evaluate(box)
    assert seen["top"] >= 0 and seen["bottom"] <= 844, seen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert errors == []


# Text whose contrast against what is behind it is under 4.5:1 (WCAG AA): HTML text in
# elements of 12 px or less and every text of the plots (SVG, on the white paper).
LOW_CONTRAST = """() => {
    const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => {
        const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
        return (x + 0.05) / (y + 0.05);
    };
    const background = (el) => {
        for (let e = el; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const bad = [];
    for (const el of document.querySelectorAll('main *:not(svg *)')) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.offsetParent) continue;
        const style = getComputedStyle(el);
        if (parseFloat(style.fontSize) > 12 || el.closest('button:disabled')) continue;
        const r = ratio(rgb(style.color).slice(0, 3), background(el));
        if (r < 4.5) bad.push([el.textContent.trim().slice(0, 40), r.toFixed(2)]);
    }
    for (const t of document.querySelectorAll('.main-svg text')) {
        if (!t.textContent.trim()) continue;
        const fill = getComputedStyle(t).fill;
        const r = ratio(rgb(fill).slice(0, 3), [255, 255, 255]);
        if (r < 4.5) bad.push([t.textContent.trim().slice(0, 40), r.toFixed(2)]);
    }
    return bad;
}"""


@pytest.mark.parametrize("page_name", [p for p in READY if p])
def test_accessibility_live_regions_current_page_summaries_and_contrast(lab, tab, page_name):
    page = tab.page
    page.goto(f"{lab.url}/{page_name}")
    wait_drawn(page, READY[page_name])
    page.wait_for_load_state("networkidle")
    page.evaluate("() => Lab.drawn()")
    assert page.title().count("fitscope lab") == 1
    assert page.get_attribute("header nav a[aria-current='page']", "href") == f"/{page_name}"
    for selector in ("#error", "#status", ".findings"):
        for el in page.locator(selector).all():
            assert el.get_attribute("aria-live") in ("polite", "assertive"), selector
    summaries = page.evaluate("() => [...document.querySelectorAll('.plot')].filter((p) => p.data)"
                              ".map((p) => [p.id, "
                              "document.getElementById(p.id + '-summary')?.innerText])")
    assert summaries and all(text for _, text in summaries), summaries
    assert page.evaluate(LOW_CONTRAST) == []


def test_training_pages_hints_marks_and_findings_read_clearly(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/overfitting?regularization.early_stopping.enabled=true"
              "&regularization.early_stopping.patience=5&budget.epochs=100")
    wait_drawn(page, "#accuracy")
    assert "press Train" in page.inner_text("#loss-summary")
    page.click("#train")
    page.wait_for_function("() => document.querySelector('#status').innerText"
                           ".startsWith('finished')", timeout=60_000)
    page.evaluate("() => Lab.drawn()")
    assert "training" in page.inner_text("#loss-summary")
    assert page.evaluate(LOW_CONTRAST) == []  # the stopped / restored marks, the 1-NN lines
    page.goto(f"{lab.url}/init")
    wait_drawn(page, "#loss")
    page.evaluate("""() => TrainViews.findings('findings', [
        {code: 'sure_thing', severity: 'warning', layer: null, evidence: {},
         explanation: 'a', fix: ''},
        {code: 'maybe_thing', severity: 'warning', layer: null, evidence: {confidence: 0.4},
         explanation: 'b', fix: ''}])""")
    items = page.locator("#findings li").all_inner_texts()
    assert "not sure" not in items[0] and "warning" in items[0]
    assert "not sure" in items[1] and "Possibly" in items[1]


LOSS_Y = "() => JSON.stringify(document.querySelector('#loss').data[0].y)"


def test_back_and_forward_restore_the_trained_plots(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/init?data.n_samples=200&model.depth=2&budget.epochs=4")
    wait_drawn(page, "#loss")
    curves = {}
    for depth in ("2", "3"):
        page.fill("input[name='model.depth']", depth)
        page.dispatch_event("input[name='model.depth']", "change")
        page.click("#train")
        page.wait_for_function("() => document.querySelector('#status').innerText"
                               ".startsWith('finished')", timeout=60_000)
        page.evaluate("() => Lab.drawn()")
        curves[depth] = page.evaluate(LOSS_Y)
    assert curves["2"] != curves["3"]
    page.go_back()
    page.wait_for_function("(y) => document.querySelector('#loss').data?.[0] && "
                           f"({LOSS_Y})() === y", arg=curves["2"])
    assert page.input_value("input[name='model.depth']") == "2"
    assert "model.depth=2" in page.url
    assert page.inner_text("#status").startswith("finished")
    page.go_forward()
    page.wait_for_function(f"(y) => ({LOSS_Y})() === y", arg=curves["3"])
    assert page.input_value("input[name='model.depth']") == "3"
    page.go_back()
    page.go_back()  # before the first Train: the settings of the first load, no curve
    page.wait_for_function("() => !document.querySelector('#loss').data?.length")
    assert tab.errors == []


def test_back_restores_an_earlier_race(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/optimizers?surface=saddle")
    wait_drawn(page, "#surface")
    page.select_option("select[name='surface']", "rosenbrock")
    page.wait_for_function("() => location.search.includes('surface=rosenbrock')")
    page.wait_for_function("() => /rosenbrock/.test(document.querySelector('#surface')"
                           ".layout?.title.text)")
    page.go_back()
    page.wait_for_function("() => location.search.includes('surface=saddle')")
    assert page.input_value("select[name='surface']") == "saddle"
    page.wait_for_function("() => /saddle/.test(document.querySelector('#surface')"
                           ".layout.title.text)")
    assert tab.errors == []


def test_optimizers_page_six_labelled_equal_axes_and_a_visible_clip(lab, tab):
    page = tab.page
    page.goto(f"{lab.url}/optimizers?surface=ravine")
    wait_drawn(page, "#surface")
    assert "Six ways" in page.inner_text(".explain")
    lr_boxes = page.locator("#optimizers input[type=number]")
    assert lr_boxes.count() == 6
    assert all(box.get_attribute("aria-label").startswith("learning rate of ")
               for box in lr_boxes.all())
    page.evaluate("() => Lab.drawn()")
    scales = page.evaluate("""() => { const l = document.querySelector('#surface')._fullLayout;
        const per = (a) => a._length / Math.abs(a.range[1] - a.range[0]);
        return [per(l.xaxis), per(l.yaxis)]; }""")
    assert abs(scales[0] / scales[1] - 1) < 0.01, scales  # pixels per unit, x and y
    page.goto(f"{lab.url}/optimizers?surface=cliff&clip=true&clip_norm=1")
    page.wait_for_function("() => document.querySelector('#surface').data?.some("
                           "(t) => t.name === 'sgd without clipping')")
    page.wait_for_timeout(2500)  # the animation ends
    min_x = page.evaluate("""() => Object.fromEntries(document.querySelector('#surface').data
        .filter((t) => t.name?.startsWith('sgd')).map((t) => [t.name, Math.min(...t.x)]))""")
    assert min_x["sgd"] > -1 and min_x["sgd without clipping"] < -10, min_x
    shoot(page, "optimizers-cliff-clip")
    assert tab.errors == []


def test_the_servers_limits_cap_the_form_and_are_shown(lab, tab):
    """The limits /api/form serves (here with run budgets added, as a stricter server
    would serve them) cap the matching boxes and are listed under the form."""
    page = tab.page

    def stricter(route):
        body = route.fetch().json()
        body["limits"] = {**body["limits"], "model.depth": 8, "max_run_seconds": 60,
                          "max_steps": 20000, "max_probe_mb": 50, "max_histogram_bins": 100}
        route.fulfill(json=body)

    page.route("**/api/form", stricter)
    page.goto(f"{lab.url}/init?model.depth=12")
    wait_drawn(page, "#loss")
    assert page.get_attribute("input[name='model.depth']", "max") == "8"
    assert page.input_value("input[name='model.depth']") == "6"  # 12 is over: the default
    assert "model.depth" in page.inner_text("#url-note")
    text = page.inner_text("form .limits")
    for part in ("60 s of training", "20000 optimizer steps", "50 MB of probe records",
                 "100 histogram bins"):
        assert part in text, text


def test_a_possible_finding_shows_not_sure_in_a_style_of_its_own(lab, tab):
    """The diagnosis's "possible" severity (a finding near its threshold) reads "not sure",
    with a dashed edge and a label of its own colour at 4.5:1 or more."""
    import dataclasses
    import json

    from fitscope.probe.findings import POSSIBLE_BELOW, Finding

    page = tab.page
    page.goto(f"{lab.url}/init")
    wait_drawn(page, "#loss")
    found = [dataclasses.asdict(Finding("dead_units", "possible", "layer_2",
                                        explanation="x", confidence=POSSIBLE_BELOW - 0.1)),
             dataclasses.asdict(Finding("dead_units", "warning", "layer_2", explanation="y"))]
    page.evaluate(f"() => TrainViews.findings('findings', {json.dumps(found)})")
    possible, warning = page.locator("#findings li").all()
    assert "not sure" in possible.inner_text() and "Possibly" in possible.inner_text()
    assert "not sure" not in warning.inner_text()
    style = "(li) => [getComputedStyle(li).borderLeftStyle, getComputedStyle(li).borderLeftColor]"
    assert possible.evaluate(style) != warning.evaluate(style)
    assert possible.evaluate(style)[0] == "dashed"
    label = "(li) => getComputedStyle(li.querySelector('.severity')).color"
    assert possible.evaluate(label) != warning.evaluate(label)
    back = possible.evaluate("(li) => getComputedStyle(li).backgroundColor")
    assert contrast(possible.evaluate(label), back) >= 4.5
    assert contrast(possible.evaluate(style)[1], back) >= 4.5
    assert page.evaluate(LOW_CONTRAST) == []


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb(...)`` colours."""
    def luminance(css: str) -> float:
        channels = [float(v) / 255 for v in css[css.index("(") + 1:-1].split(",")[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
