"""A cheap HTML rendering of the Markdown report: the `markdown` package (tables) when installed, else <pre>."""

from __future__ import annotations

import html
import importlib
import logging

LOG = logging.getLogger(__name__)

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; }
blockquote { border-left: 4px solid #ccc; margin-left: 0; padding-left: 1em; color: #333; }
pre { white-space: pre-wrap; }
"""


def markdown_to_html(text: str) -> str:
    """The body HTML of `text`; images keep their relative paths, so the page sits beside report.md."""
    try:
        markdown = importlib.import_module("markdown")
    except ImportError:
        LOG.info("the markdown package is not installed: the HTML report shows the Markdown source")
        return f"<pre>{html.escape(text)}</pre>"
    body: str = markdown.markdown(text, extensions=["tables"])
    return body


def html_page(text: str, title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{markdown_to_html(text)}\n</body>\n</html>\n"
    )
