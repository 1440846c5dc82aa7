"""The docs site in a real browser: build it with the README's docs command, serve it on 127.0.0.1 and open every page
in headless Chromium (Debian's `chromium`, installed by .ci/run; skipped where it is absent).

Each page: no console error, no request leaving the site, no raw `$...$` left in the text (MathJax typeset it from
the local copy), every <img> loaded, every internal link and anchor resolving; and the offline search finds SoftMoE.
"""
import functools, http.server, os, re, shutil, subprocess, sys, threading, time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest
from conftest import ROOT

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='no Chromium installed (.ci/run installs Debian\'s chromium)')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']

def docs_command()->list[str]:
    "The docs command the README documents (its `eo_moe_docs --out DIR` line), as argv without the folder."
    readme = (ROOT/'README.md').read_text()
    m = re.search(r'^(eo_moe_docs --out) (\S+)', readme, re.M)
    assert m, 'README.md documents no `eo_moe_docs --out DIR` command'
    return m.group(1).split()

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    if os.environ.get('EO_MOE_DOCS_SITE'): return Path(os.environ['EO_MOE_DOCS_SITE'])   # a site built beforehand
    out = tmp_path_factory.mktemp('site')/'html'
    cmd = docs_command()
    t0 = time.time()
    r = subprocess.run([str(Path(sys.executable).parent/cmd[0]), *cmd[1:], str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    print(f'docs built in {time.time() - t0:.0f}s')
    return out

@pytest.fixture(scope='module')
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    pw = pytest.importorskip('playwright.sync_api')
    with pw.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp('chromium-profile')), executable_path=CHROMIUM,
                                                   headless=True, args=FLAGS, viewport={'width': 1200, 'height': 900})
        yield ctx
        ctx.close()

class _Ids(HTMLParser):
    "The ids (and old-style <a name>) of a page."
    def __init__(self): super().__init__(); self.ids = set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])

@functools.lru_cache(None)
def _ids(path:Path)->frozenset:
    p = _Ids(); p.feed(path.read_text(encoding='utf-8')); return frozenset(p.ids)

RAW_MATH = r'''() => {
  const out = [], skip = 'PRE,CODE,SCRIPT,STYLE,MJX-CONTAINER,TEXTAREA,KBD,SAMP';
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let text = '';
  while (w.nextNode()) {
    let n = w.currentNode, el = n.parentElement, skipped = false;
    for (; el; el = el.parentElement) if (skip.split(',').includes(el.tagName)) { skipped = true; break; }
    text += skipped ? ' \u0000 ' : n.textContent;
  }
  const re = /\$\$[^$\u0000]+\$\$|\$[^$\s\u0000][^$\u0000]{0,200}?\$|\\\(|\\\[/g;
  return text.match(re) || [];
}'''

def pages(site:Path)->list[str]:
    "The site's pages (not the theme's and Sphinx's files under `_static/`, `_sources/`...)."
    return sorted(str(p.relative_to(site)) for p in site.rglob('*.html') if not any(q.startswith('_') for q in p.relative_to(site).parts))

def check_page(browser, base:str, site:Path, page:str)->list[str]:
    "Problems found on one page."
    problems, pg = [], browser.new_page()
    pg.on('console', lambda m: problems.append(f'console {m.type}: {m.text}') if m.type == 'error' else None)
    pg.on('pageerror', lambda e: problems.append(f'page error: {e}'))
    pg.on('requestfailed', lambda r: problems.append(f'request failed: {r.url}'))
    pg.on('response', lambda r: problems.append(f'HTTP {r.status}: {r.url}') if r.status >= 400 else None)
    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith(('data:', 'blob:', 'about:')): return r.continue_()
        problems.append(f'request leaving the site: {r.request.url}'); return r.abort()
    pg.route('**/*', route)
    pg.goto(base + page, wait_until='load')
    pg.evaluate('async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }')
    pg.wait_for_function('() => [...document.images].every(i => i.complete)', timeout=30000)
    raw = pg.evaluate(RAW_MATH)
    if raw: problems.append(f'raw math in the text: {raw[:5]}')
    imgs = pg.evaluate('() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)')
    problems += [f'image not loaded: {s}' for s in imgs]
    for href in pg.evaluate('() => [...document.querySelectorAll("a[href]")].map(a => a.href)'):
        if not href.startswith(base): continue
        u = urlsplit(href); target = site/unquote(u.path[len(urlsplit(base).path):])
        if target.is_dir(): target = target/'index.html'
        if not target.exists(): problems.append(f'broken link: {href}'); continue
        if u.fragment and target.suffix == '.html' and unquote(u.fragment) not in _ids(target):
            problems.append(f'broken anchor: {href}')
    pg.close()
    return problems

def test_every_page(site, server, browser):
    ps = pages(site)
    assert {'index.html', 'moe.html', 'models.mapex.html', 'paper_figures.html', 'search.html'} <= set(ps), ps
    bad = {p: pr for p in ps if (pr := check_page(browser, server, site, p))}
    assert not bad, '\n'.join(f'{p}: {pr[:8]}' for p, pr in bad.items())

def test_pages_have_what_readers_look_for(site, server, browser):
    "Sidebar with the project's sections, math typeset, figures, source links, prev/next, TOC; usable at 400 px."
    pg = browser.new_page()
    pg.goto(server + 'moe.html', wait_until='load')
    pg.evaluate('async () => { await MathJax.startup.promise; }')
    nav = pg.inner_text('.bd-sidebar-primary')
    for s in ('Core and data', 'Model parts', 'Models', 'Analysis and training', 'Experiments'): assert s in nav, nav[:500]
    assert pg.locator('mjx-container').count() > 20                        # the page's math, typeset
    assert pg.locator('.cell_output img').count() >= 1                     # a figure from the notebook's outputs
    assert pg.locator('a.eo-source').count() >= 3                          # [source] links of show_doc
    assert pg.locator('.prev-next-area a').count() >= 1                    # previous / next
    assert pg.locator('.page-toc .toc-entry a').count() >= 3                        # the page's table of contents
    assert pg.locator('pre >> text=class SoftMoE(').count() == 1          # classes documented as classes
    pg.set_viewport_size({'width': 400, 'height': 800})
    assert pg.evaluate('() => document.documentElement.scrollWidth') <= 400   # no horizontal scrolling at 400 px
    pg.goto(server + 'models.mapex.html', wait_until='load')
    body = pg.inner_text('article')
    assert 'Define the computation performed at every call' not in body     # our docstrings, not torch's
    pg.goto(server + 'paper_figures.html', wait_until='load')
    assert pg.locator('article img').count() >= 18                          # every committed figure of paper_figures/
    pg.close()

def test_backticked_symbols_link_to_their_docs(site):
    page = (site/'models.mapex.html').read_text()
    assert re.search(r'<a class="reference external" href="moe.html#sparsemoe"><code[^>]*><span class="pre">SparseMoE</span>', page), \
        'backticked `SparseMoE` does not link to its docs (the nbdev entry point in pyproject.toml)'

def test_search_finds_softmoe(server, browser):
    pg = browser.new_page()
    pg.goto(server + 'search.html?q=SoftMoE', wait_until='load')
    pg.wait_for_selector('#search-results ul li a', timeout=30000)
    hits = pg.evaluate('() => [...document.querySelectorAll("#search-results ul li a")].map(a => a.getAttribute("href"))')
    assert any(h.startswith('moe.html') for h in hits), hits
    pg.close()
