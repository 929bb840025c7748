"""A real browser: JupyterLab on localhost, headless Chromium (Debian's), Run All.

A student's finished work (a copy of a solution notebook) is opened in JupyterLab, all
cells are run through the UI, and the page must show every self-check passing, figures
as images and no error output. A screenshot is saved under build/screenshots/.
Every slides deck (python -m autograder slides: the lecture deck and the seven notebook
decks, built once) is served from a local http server with every other request refused, and
every screen is walked at 1280x800: nothing may stick out of the canvas, no TeX may stay raw,
every figure loads, and no written question's answer (read from solutions/) may appear.
Needs Debian's chromium and the playwright package (.ci/run installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autograder.course import ROOT, SOLUTIONS, available

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
SCREENSHOTS = ROOT / "build" / "screenshots"
TOKEN = "course-kit-test"
# Waits are generous (a loaded machine starts JupyterLab and a kernel many times slower); none is what a test asserts.
LAB_WAIT_MS = 300_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    course = base / "course"
    (course / "work").mkdir(parents=True)
    os.symlink(ROOT / "helpers", course / "helpers")
    settings = base / "settings"
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell in the DOM
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "JUPYTER_RUNTIME_DIR": str(base / "runtime")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={course}", "--ServerApp.disable_check_xsrf=True", "--allow-root"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=course,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + LAB_WAIT_MS / 1000
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"JupyterLab did not start: {server.stdout.read().decode()[-3000:]}")
            time.sleep(0.5)
    yield url, course
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


# The visible notebook's kernel state, as its toolbar shows it: connecting, unknown, idle, busy...
KERNEL_STATE = "() => document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator')?.getAttribute('data-status')"
# The notebook called `name` is the main area's current tab, its panel shown and its kernel idle.
# (A new page may first restore the notebooks an earlier test left open, 07 with every prompt
# numbered: a Run All clicked then runs that one, and "something ran" is true at once.)
CURRENT_AND_IDLE = r"""(name) => {
    const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const state = panel?.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
    return tab?.textContent.trim() === name && state === 'idle';
}"""
# Something ran in the current notebook `name`: its kernel is busy, a cell is queued or
# numbered, or a cell's text was replaced.
STARTED = r"""(name) => {
    const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel || tab?.textContent.trim() !== name) return false;
    const state = panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    return state === 'busy' || prompts.some(t => /^\[(\*|\d+)\]:$/.test(t)) || panel.querySelectorAll('.jp-OutputArea-output').length > 0;
}"""


def run_all_cells(page, name: str, attempts: int = 4) -> None:
    """Run > Run All Cells in the notebook ``name`` once it is current and its kernel idle, clicked again if nothing started.

    A click while the kernel is still connecting, or before the notebook is JupyterLab's
    current widget (the menu item is then disabled, or runs another notebook), is lost; on a
    loaded machine that is common, so the start is confirmed rather than assumed. Each failed
    attempt leaves a screenshot (build/screenshots/run-all-attempt-N.png) for whoever reads the failure.
    """
    page.wait_for_function(CURRENT_AND_IDLE, arg=name, timeout=LAB_WAIT_MS)
    for attempt in range(1, attempts + 1):
        try:
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(timeout=60_000)
            page.click(".lm-MenuBar-item:has-text('Run')", timeout=60_000)
            page.click(".lm-Menu-item:not(.lm-mod-disabled):has-text('Run All Cells')", timeout=30_000)
            page.wait_for_function(STARTED, arg=name, timeout=60_000)
            return
        except playwright_api.TimeoutError:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"run-all-attempt-{attempt}.png"))
            page.keyboard.press("Escape")  # close the menu if it stayed open
    raise AssertionError(f"Run All Cells started nothing in {name} after {attempts} tries; the kernel is {page.evaluate(KERNEL_STATE)!r} "
                         f"(screenshots in {SCREENSHOTS})")


def run_all_in_lab(page, url: str, name: str, timeout_s: float) -> dict:
    page.set_default_timeout(LAB_WAIT_MS)  # clicks and menus too (Playwright's default is 30 s)
    page.goto(f"{url}/lab/tree/work/{name}?reset&token={TOKEN}", timeout=LAB_WAIT_MS)  # reset: no tabs from an earlier test
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LAB_WAIT_MS)
    run_all_cells(page, name)
    # Wait until every code cell has run: no [*] prompt and every prompt numbered.
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
                return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
            }""",
            timeout=timeout_s * 1000,
        )
    except playwright_api.TimeoutError:  # say where it stopped, for whoever reads the failure
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"run-all-unfinished-{name}.png"), full_page=True)
        prompts = page.evaluate("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim())")
        raise AssertionError(f"{name}: not every cell ran in {timeout_s:g} s; prompts {prompts}; the kernel is {page.evaluate(KERNEL_STATE)!r}") from None
    page.wait_for_timeout(1500)  # the last outputs and images land
    return page.evaluate(
        """() => ({
            outputs: [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText),
            errors: document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .jp-RenderedText, .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]').length,
            tracebacks: [...document.querySelectorAll('.jp-OutputArea-output')].filter(o => o.innerText.includes('Traceback')).length,
            images: document.querySelectorAll('.jp-OutputArea-output img').length,
            cells: document.querySelectorAll('.jp-CodeCell').length,
        })"""
    )


@pytest.mark.parametrize("notebook", ["01", "07"])
def test_finished_notebook_runs_all_in_jupyterlab(lab, browser, notebook):
    if notebook not in available():
        pytest.skip(f"notebook {notebook} is not in the course yet")
    url, course = lab
    stem = available()[notebook]
    shutil.copy(SOLUTIONS / f"{stem}.ipynb", course / "work" / f"{stem}.ipynb")
    page = browser.new_page(viewport={"width": 1300, "height": 2000})
    try:
        state = run_all_in_lab(page, url, f"{stem}.ipynb", timeout_s=900)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        images = page.locator(".jp-OutputArea-output img")
        for which, suffix in ((images.count() // 2, ""), (images.count() - 1, "-last-figure")):
            if images.count():  # a figure with the cells around it
                images.nth(which).scroll_into_view_if_needed()
                page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENSHOTS / f"{stem}{suffix}.png"))
    finally:
        page.close()
    text = "\n".join(state["outputs"])
    checks = [o for o in state["outputs"] if "self-checks passed" in o]
    assert checks and all("\u2714" in o and "\u2718" not in o for o in checks), text[-3000:]
    assert state["tracebacks"] == 0, text[-3000:]
    assert state["images"] > 0


# Every screen of a deck, walked at 1280x800 with every fragment shown: what sticks out of the
# canvas, code that scrolls sideways, TeX that KaTeX left (or could not parse), and the text.
WALK_DECK = r"""
() => {
  const out = [];
  const tex = /\$\$|\\begin|\\end\{|\\frac|\\mathbf|\\mathrm|\\sum|\\sqrt|\\underbrace|\\xrightarrow|\\text\{|\\hat|\\left|\\right|\\cdot|\\operatorname|\\boldsymbol|\\mathbb|\\mathcal|\\top\b|\\alpha|\\theta|\$[^$\n]{1,80}\$/;
  document.querySelectorAll('.reveal .slides > section').forEach((stack, h) => {
    stack.querySelectorAll(':scope > section').forEach((screen, v) => {
      Reveal.slide(h, v, 99);
      const scale = courseFit(screen);
      const canvas = document.querySelector('.reveal .slides').getBoundingClientRect();
      const unit = canvas.width / 1280;
      const box = screen.querySelector(':scope > .screen');
      const problems = [];
      for (const el of [box, ...box.querySelectorAll('*')]) {
        if (el.closest('.katex') && !el.classList.contains('katex')) continue;  // KaTeX's struts may poke out of its box
        if (el.closest('details:not([open])') && !['DETAILS', 'SUMMARY'].includes(el.tagName)) continue;  // folded: not drawn
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.right > canvas.right + 2 || r.bottom > canvas.bottom + 2 || r.left < canvas.left - 2 || r.top < canvas.top - 2) {
          problems.push(`overflow: <${el.tagName.toLowerCase()} class="${el.className}"> reaches (${((r.right - canvas.left) / unit).toFixed(0)}, ${((r.bottom - canvas.top) / unit).toFixed(0)}) of 1280x800`);
          break;
        }
        if (el.tagName === 'PRE' && el.scrollWidth > el.clientWidth + 2) { problems.push('a code block is clipped on the right'); break; }
      }
      const copy = box.cloneNode(true);
      copy.querySelectorAll('.katex, pre, code').forEach(e => e.remove());
      const m = copy.textContent.match(tex);
      if (m) problems.push(`raw TeX ${JSON.stringify(m[0])} in "${copy.textContent.slice(Math.max(0, m.index - 60), m.index + 60)}"`);
      const error = box.querySelector('.katex-error');
      if (error) problems.push(`KaTeX cannot typeset: ${error.textContent.slice(0, 120)}`);
      const images = [...box.querySelectorAll('img.figure')];
      out.push({h, v, scale, problems, title: (box.querySelector('h2') || {}).textContent || '',
                images: images.length, drawn: images.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 50).length});
    });
  });
  const all = document.querySelector('.reveal .slides').cloneNode(true);
  all.querySelectorAll('.katex').forEach(e => e.remove());
  return {screens: out, text: all.innerHTML};
}
"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory, executed_solutions):
    """Every deck (the lecture deck and the seven notebook decks), built once: (url, rows), from the session's runs of the solutions."""
    import nbformat

    from autograder.lecture import slides

    folder = tmp_path_factory.mktemp("decks")
    for stem, run in executed_solutions.items():  # the session's runs of the solutions (tests/executed.py): executed once
        path = slides.executed_path(stem, folder / ".executed")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(run.nb, str(path))
    rows = slides.build(folder, log=lambda *_: None)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the static http server did not start")
            time.sleep(0.2)
    yield url, {row["id"]: row for row in rows}
    server.terminate()
    server.wait(timeout=10)


def _open_deck(browser, url: str, row: dict):
    """A page showing the deck, with every request outside the local server refused: (page, outside, errors)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    outside, errors = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def only_local(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:  # nothing may come from the network: the deck is offline
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{url}/{row['page'].name}")
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=120_000)
    return page, outside, errors


@pytest.mark.parametrize("deck_id", ["lecture", *available()])
def test_deck_fits_renders_its_formulas_and_shows_no_answer(browser, decks, deck_id):
    """Every screen at 1280x800: nothing outside the canvas, no raw TeX, figures drawn, no written answer."""
    from test_slides import WRITTEN, _answers

    from autograder.lecture import deck

    url, rows = decks
    row = rows[deck_id]
    page, outside, errors = _open_deck(browser, url, row)
    try:
        walk = page.evaluate(WALK_DECK)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("() => Reveal.slide(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / f"{row['stem']}-deck-first.png"))
    finally:
        page.close()
    screens = walk["screens"]
    assert len(screens) == row["screens"], (len(screens), row["screens"])
    bad = [f"screen {s['h']}.{s['v']} ({s['title']}, scale {s['scale']:.2f}): {p}" for s in screens for p in s["problems"]]
    assert bad == [], "\n".join(bad)
    assert sum(s["images"] for s in screens) >= (20 if deck_id == "lecture" else 1), "the deck has (almost) no figures"
    assert [s for s in screens if s["drawn"] != s["images"]] == [], "a figure did not load"
    text = " ".join(deck.plain_words(walk["text"]))
    leaked = [f"{q}: {p!r}" for q, answer in _answers().items() for p in deck.answer_phrases(answer) if p in text]
    assert leaked == [], leaked
    if deck_id in WRITTEN:
        assert "question written" in text  # the question is there, its answer is not
    assert outside == [], f"the deck asked the network for {outside}"
    assert errors == [], errors
    assert row["problems"] == []  # every manifest entry of the lecture deck found its cell


def test_lecture_deck_advances_and_the_overflow_check_bites(browser, decks):
    url, rows = decks
    page, _, errors = _open_deck(browser, url, rows["lecture"])
    try:
        assert page.evaluate("() => Reveal.getIndices().h") == 0
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Reveal.getIndices().h === 1", timeout=10_000)
        progress = page.evaluate("() => Reveal.getProgress()")
        page.evaluate("() => Reveal.next()")
        assert page.evaluate("() => Reveal.getProgress()") > progress
        # The checks bite: a screen far too tall for the smallest scale, and TeX left untypeset, are reported.
        page.evaluate(
            "() => { const s = Reveal.getCurrentSlide().querySelector('.screen'); const d = document.createElement('div');"
            " d.style.height = '3000px'; s.appendChild(d); const p = document.createElement('p'); p.textContent = '$\\\\frac{a}{b}$';"
            " Reveal.getSlide(2, 0).querySelector('.screen').appendChild(p); }"
        )
        problems = {f"{s['h']}.{s['v']}": s["problems"] for s in page.evaluate(WALK_DECK)["screens"] if s["problems"]}
    finally:
        page.close()
    assert sorted(problems) == ["1.1", "2.0"], problems
    assert problems["1.1"][0].startswith("overflow") and problems["2.0"][0].startswith("raw TeX"), problems
    assert errors == [], errors


def test_load_answer_fills_the_cell_in_jupyterlab(lab, browser):
    """The lecturer's %load_answer in JupyterLab: the cell's text becomes the solution's softmax."""
    url, course = lab
    link = course / "autograder"
    if not link.exists():
        os.symlink(ROOT / "autograder", link)  # the instructor kit beside helpers/ (solutions/ is found from it)
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": "live", "metadata": {}, "outputs": [],
             "source": "import sys; sys.path.insert(0, '..')\n%load_ext autograder.lecture.live\n%load_answer softmax"},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    (course / "work" / "live.ipynb").write_text(json.dumps(nb))
    page = browser.new_page(viewport={"width": 1300, "height": 1200})
    try:
        page.set_default_timeout(LAB_WAIT_MS)
        page.goto(f"{url}/lab/tree/work/live.ipynb?reset&token={TOKEN}", timeout=LAB_WAIT_MS)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LAB_WAIT_MS)
        run_all_cells(page, "live.ipynb")
        replaced = "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .cm-content')].some(c => c.innerText.includes('def softmax('))"
        try:  # the replaced cell loses its prompt number, so wait for its text instead
            page.wait_for_function(replaced, timeout=LAB_WAIT_MS)
        except playwright_api.TimeoutError:
            outputs = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n')")
            raise AssertionError(f"the cell was not replaced; the kernel is {page.evaluate(KERNEL_STATE)!r}; its output: {outputs[-3000:]!r}") from None
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "load_answer.png"))
        text = page.evaluate("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .cm-content')].map(c => c.innerText).join('\\n')")
    finally:
        page.close()
    assert "def softmax(" in text and "load_answer" not in text and "BEGIN SOLUTION" not in text, text


def test_rise_presents_the_annotated_notebook_in_jupyterlab(lab, browser):
    """The same slideshow metadata drives RISE (jupyterlab-rise) in the running JupyterLab: a slide per `slide` cell."""
    pytest.importorskip("jupyterlab_rise")
    import nbformat

    from autograder.lecture import slides

    url, course = lab
    stem = available()["01"]
    nb = slides.annotate(nbformat.read(str(SOLUTIONS / f"{stem}.ipynb"), as_version=4))
    nbformat.write(nb, str(course / "work" / "rise.ipynb"))
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto(f"{url}/rise/work/rise.ipynb?token={TOKEN}")
        page.wait_for_selector(".reveal .slides section", timeout=90_000)
        page.wait_for_timeout(1500)
        count = page.evaluate("() => document.querySelectorAll('.reveal .slides > section').length")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "rise.png"))
    finally:
        page.close()
    assert count == len(slides.outline(nb)), count
