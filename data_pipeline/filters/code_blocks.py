"""Code blocks inside prose documents (a Chinese tutorial with a Python snippet), to keep out of prose rules.

Code has no stop words, few sentence ends and many symbols, so judged as English prose it rejects the whole
document (gopher_quality:stop_words). Prose rules see the document without its code blocks, and the line
cleaner leaves code lines alone. A block is a fenced region (``` or ~~~) or a run of at least
`MIN_RUN` consecutive code-like lines; one code-like line inside prose stays prose. Normalization strips
indentation, so code is recognised by its statements and syntax density, not by indentation.
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_RUN = 2
_FENCE = re.compile(r"^\s*(```|~~~)")
# Statement openings of common languages (Python, C-family, JS, shell, SQL) and interactive prompts.
_STATEMENT = re.compile(
    r"^(?:def |class |import |from \S+ import |return\b|elif |else\s*:|try\s*:|except\b|finally\s*:|raise\b|"
    r"(?:if|for|while|with)\b.*:$|print\(|#include\b|using namespace\b|(?:public|private|protected|static) |"
    r"(?:const|let|var|function) |SELECT |INSERT |UPDATE |CREATE TABLE |>>> |\$ |@\w+)"
)
_ASSIGN_OR_CALL = re.compile(r"^[A-Za-z_][\w.\[\]'\"]*\s*[-+*/%|&]?=(?!=)|^[A-Za-z_][\w.]*\(.*\)[;:]?$")
_COMMENT = re.compile(r"^(?:#|//|/\*|\*|--)")
_SYNTAX = frozenset("{}()[]=;<>+*/_#\\|&")


def is_code_line(line: str) -> bool:
    """A line that reads as a program statement: it opens like one, assigns or calls (x = f(y)), or is dense
    in syntax characters while ending like code."""
    s = line.strip()
    if not s or s[-1] in "。！？，；":  # Chinese sentence punctuation: prose (a code comment line may hold ，)
        return False
    if _STATEMENT.match(s) or _ASSIGN_OR_CALL.match(s) or s in ("}", "{", "};", ")", "]", "end"):
        return True
    syntax = sum(1 for ch in s if ch in _SYNTAX)
    return syntax >= 2 and syntax >= 0.1 * len(s.replace(" ", "")) and s[-1] in "{});:]"


def code_line_mask(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a code block (fence lines included)."""
    mask = [False] * len(lines)
    fenced_from = None
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            if fenced_from is None:
                fenced_from = i
            else:
                for k in range(fenced_from, i + 1):
                    mask[k] = True
                fenced_from = None
    i = 0
    while i < len(lines):  # runs of code-like lines; comment lines join a run they touch
        if mask[i] or not (is_code_line(lines[i]) or _COMMENT.match(lines[i].strip())):
            i += 1
            continue
        j = i
        while j < len(lines) and not mask[j] and (is_code_line(lines[j]) or _COMMENT.match(lines[j].strip())):
            j += 1
        if sum(is_code_line(line) for line in lines[i:j]) >= MIN_RUN:
            for k in range(i, j):
                mask[k] = True
        i = j
    return mask


@lru_cache(maxsize=8)  # every document filter asks for the same text in turn
def without_code(text: str) -> str:
    """`text` with its code blocks removed (what prose rules judge)."""
    lines = text.split("\n")
    return "\n".join(line for line, code in zip(lines, code_line_mask(lines)) if not code)
