#!/usr/bin/env python3
"""Unbounded C string calls anywhere in the tree (issue 13; curl's checksrc bans them).

strcpy, strcat, sprintf, vsprintf and gets write without a bound, strncat's bound is easily
wrong and strtok keeps hidden state: use snprintf / vsnprintf, memcpy with a length you checked,
or strtok_r. Every .c and .h file under the source root is read (common/,
the servers, bench/, tests/ and any other directory; build trees, .git, .cache and .stack-*
state are skipped), comments and string/character literals are blanked out, and every call of
a banned function is printed as FILE:LINE: name(. Usage:
    banned_calls.py [SOURCE_ROOT]    # default: the repository this script lives in
Before scanning, the checker runs itself on a sample holding each banned call beside lookalikes
(snprintf, fgets, strcpy in a comment and in a string, a member named gets) and fails if it
misses or over-reports one, so a broken pattern cannot pass silently.
Exit 0: no banned call; 1: banned calls (printed); 2: the self-check failed or no C file found.
"""
import os
import re
import sys

# strncat (its bound is the room left, easily got wrong) and strtok (hidden state shared by
# threads) are banned by curl too
BANNED = ("strcpy", "strcat", "sprintf", "vsprintf", "gets", "strncat", "strtok")
# a call: the name as a whole identifier followed by "(", not a member (.gets / ->gets)
CALL = re.compile(r"(?<![\w.>])(" + "|".join(BANNED) + r")\s*\(")
SKIP_DIRS = {".git", ".cache", "node_modules", "__pycache__", "venv", ".venv", "CMakeFiles"}


# comments and string/char literals, in the order the C lexer meets them (a literal may hold
# "/*", a comment may hold quotes); an unterminated literal ends at its line's end
NOISE = re.compile(r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?',
                   re.S)


def blank_comments_and_literals(src):
    """src with comments and string/char literals replaced by blanks (newlines kept)."""
    return NOISE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), src)


def banned_calls(src):
    """[(line, name)] of every banned call in C source text."""
    code = blank_comments_and_literals(src)
    return [(code.count("\n", 0, m.start()) + 1, m.group(1)) for m in CALL.finditer(code)]


SAMPLE = r'''
#include <stdio.h>
/* strcpy(a, b) in a comment is fine */
// so is strcat(a, b) here
static void f(char *a, const char *b, struct s *p)
{
    const char *doc = "call sprintf(x) in a string";
    char q = '"'; strcpy (a, b);
    strcat(a, b);
    sprintf(a, "%s", b);
    snprintf(a, 4, "%s", b);
    vsnprintf(a, 4, b, ap);
    fgets(a, 4, stdin);
    p->gets(a);
    p.gets(a);
    my_strcpy(a, b);
    vsprintf(a, b, ap);
    gets(a);
    strncat(a, b, 3);
    strtok_r(a, ",", &save);
    strtok(a, ",");
}
'''
SAMPLE_WANT = [(8, "strcpy"), (9, "strcat"), (10, "sprintf"), (17, "vsprintf"), (18, "gets"),
               (19, "strncat"), (21, "strtok")]


def c_files(root):
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")
                         and not d.startswith(".stack"))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(base, f)


def main():
    if len(sys.argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    got = banned_calls(SAMPLE)
    if got != SAMPLE_WANT:
        print(f"banned_calls self-check failed: found {got}, expected {SAMPLE_WANT}",
              file=sys.stderr)
        return 2
    root = sys.argv[1] if len(sys.argv) == 2 else os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    hits, nfiles = [], 0
    for path in c_files(root):
        nfiles += 1
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
        hits += [(os.path.relpath(path, root), line, name) for line, name in banned_calls(src)]
    if nfiles == 0:
        print(f"banned_calls: no C files under {root}", file=sys.stderr)
        return 2
    for path, line, name in hits:
        print(f"{path}:{line}: {name}( is banned: use snprintf/vsnprintf, memcpy with a length "
              "or strtok_r")
    print(f"banned_calls: {nfiles} C files, {len(hits)} banned calls", file=sys.stderr)
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
