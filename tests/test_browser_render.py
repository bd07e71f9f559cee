"""Streamed Markdown in a real browser: however the answer is cut into deltas, it ends as a render of its whole text."""
from browser import answers, choose, open_chat, send, wait_until_idle
from playwright.sync_api import expect

# Every construct the renderer splits into blocks, with blocks that could run into their neighbours.
ANSWER = """Setext title
============

Some **bold** and `code`, then a [link](https://example.invalid/a).

1. first
2. second

3. third, after a blank line

- item
  continued

    indented code

> quoted
lazily continued

| a | b |
| - | -: |
| 1 | 2 |

```python
def f(x):
    return x
```

$$
x^2
$$

***

Last line with $y$ and no newline"""

REFERENCES = """See [the docs][docs] and [Home].

```js
let x = 1;
```

[docs]: https://example.invalid/docs "The docs"
[home]: https://example.invalid/
"""


def stream(page, text, cuts):
    """Feed `text` to a StreamRenderer cut at the offsets `cuts`, rendering after each piece, then finish it.

    Returns the container's HTML, a render of the whole text, and whether the first element is the node
    it was before the answer ended.
    """
    return page.evaluate(
        """async ([text, cuts]) => {
          const { StreamRenderer, renderMarkdown } = await import("/static/markdown.js");
          const box = document.createElement("div");
          document.body.append(box);
          const renderer = new StreamRenderer(box);
          let at = 0;
          for (const cut of [...cuts, text.length]) {
            renderer.append(text.slice(at, cut));
            renderer.render();
            at = cut;
          }
          const first = box.firstElementChild;
          renderer.finish();
          const whole = renderMarkdown(document.createElement("div"), text).innerHTML;
          return { html: box.innerHTML, whole, kept: box.firstElementChild === first };
        }""",
        [text, cuts],
    )


def test_any_cut_of_an_answer_ends_as_a_render_of_the_whole_text(page, server):
    """Pieces of every size, and a piece per character, give the same page as rendering the whole text at once."""
    open_chat(page, server)
    for size in (1, 2, 3, 5, 8, 13, 40):
        result = stream(page, ANSWER, list(range(size, len(ANSWER), size)))
        assert result["html"] == result["whole"], size


def test_a_list_item_cut_after_its_number_continues_the_list(page, server):
    """"2" then ". two" after a blank line is the list's second item, not a paragraph and a new list."""
    open_chat(page, server)
    text = "1. one\n\n2. two\n\nAfter.\n"
    result = stream(page, text, [text.index("2") + 1])
    assert result["html"] == result["whole"]
    assert result["html"].count("<ol") == 1


def test_the_end_of_an_answer_keeps_the_blocks_already_rendered(page, server):
    """Without link reference definitions nothing is rendered again at the end: the first block stays the same node."""
    open_chat(page, server)
    result = stream(page, ANSWER, list(range(7, len(ANSWER), 7)))
    assert result["kept"]
    assert result["html"] == result["whole"]


def test_a_reference_link_defined_below_its_use_resolves_when_the_answer_ends(page, server):
    """Links to definitions further down are links once the answer ends, as in a render of the whole text."""
    open_chat(page, server)
    result = stream(page, REFERENCES, list(range(3, len(REFERENCES), 3)))
    assert result["html"] == result["whole"]
    assert 'href="https://example.invalid/docs"' in result["html"]
    assert 'href="https://example.invalid/"' in result["html"]


def test_a_streamed_answer_on_the_page_ends_as_its_whole_render(page, server):
    """The answer's bubble holds what a render of its whole text gives, its code block with one Copy button."""
    open_chat(page, server)
    choose(page, "testing", "markdown")
    send(page, "show me")
    wait_until_idle(page)
    content = answers(page).last.locator(".content")
    expect(content.locator("pre .copy-code")).to_have_count(1)
    same = content.evaluate(
        """async (element) => {
          const { renderMarkdown } = await import("/static/markdown.js");
          const stored = await (await fetch(location.pathname.replace("/c/", "/api/conversations/"))).json();
          const answer = stored.messages.at(-1).content;
          return element.innerHTML === renderMarkdown(document.createElement("div"), answer).innerHTML;
        }"""
    )
    assert same


def test_code_in_a_new_language_is_highlighted_once_its_grammar_is_compiled(page, server):
    """The first frame shows it plain and keeps it growing; the next, once the grammar is compiled, highlights it."""
    open_chat(page, server)
    result = page.evaluate(
        """async () => {
          const { StreamRenderer, renderMarkdown } = await import("/static/markdown.js");
          // highlight.js loads after the first paint, which a busy machine may not have reached yet.
          await new Promise((loaded) => {
            const probe = document.createElement("div");
            renderMarkdown(probe, "```python\\ndef f(): pass\\n```", { onChange: loaded });
            if (probe.querySelector(".hljs-keyword")) loaded();
          });
          const box = document.createElement("div");
          const renderer = new StreamRenderer(box);
          const look = () => ({
            highlighted: Boolean(box.querySelector(".hljs-keyword")),
            live: Boolean(box.querySelector(".live pre")),
          });
          renderer.append("```rust\\nfn main() {}\\n```\\n\\nAfter.\\n");
          renderer.render();
          const first = look();
          await new Promise((resolve) => setTimeout(resolve));
          renderer.render();
          return { first, then: look() };
        }"""
    )
    assert result == {"first": {"highlighted": False, "live": True}, "then": {"highlighted": True, "live": False}}
