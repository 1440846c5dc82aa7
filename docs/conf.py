# Sphinx configuration of the docs site that `eo_moe_docs --out DIR` builds (see nbs/17_docs.ipynb).
# The sources are nbdev's processed notebooks, staged by `eo_moe_nb.docs.render_docs`; myst-nb renders them
# from their committed outputs (nothing is executed here). Every asset is local: MathJax comes from the
# sphinx-mathjax-offline package, the theme's fonts and scripts from sphinx-book-theme.
project = 'eo-moe-nb'
author = 'eo-moe-nb developers'
copyright = '2026 onwards, eo-moe-nb developers'

import importlib.util, pathlib
# MathJax 3 from the sphinx-mathjax-offline package, copied to _static/mathjax/ (as its extension does, without
# the extension itself, which would turn off Sphinx's parallel reading)
_mathjax = pathlib.Path(importlib.util.find_spec('sphinx-mathjax-offline').origin).parent/'static'
extensions = ['myst_nb']
nb_execution_mode = 'off'                       # pages show the notebooks' committed outputs
nb_render_markdown_format = 'myst'              # markdown outputs (tables, math) parsed like markdown cells
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_inline']
myst_dmath_double_inline = True                 # `$$...$$` inside a paragraph is display math, as in Quarto
myst_heading_anchors = 4
mathjax_path = 'mathjax/tex-chtml.js'           # the package's local copy, under _static/
mathjax3_config = {'tex': {'inlineMath': [['\\(', '\\)']], 'displayMath': [['\\[', '\\]']]}}
suppress_warnings = ['myst.header', 'myst.xref_missing', 'mystnb.unknown_mime_type', 'misc.highlighting_failure']

html_theme = 'sphinx_book_theme'
html_title = 'eo-moe-nb'
html_static_path = ['_static', str(_mathjax)]
html_css_files = ['eo_moe.css']
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    'show_toc_level': 2,
    'show_navbar_depth': 1,
    'home_page_in_toc': True,
    'use_download_button': False,
    'use_fullscreen_button': False,
    'use_repository_button': False,
    'navigation_with_keys': False,
}
html_sidebars = {'**': ['navbar-logo', 'search-button-field', 'sbt-sidebar-nav.html']}
exclude_patterns = ['paper_figures/**']         # result files are shown on the gallery page, not pages of their own
html_context = {'default_mode': 'light'}        # the theme's colour mode before a reader picks one
