#!/usr/bin/env python3
"""The call-path example in docs/design.md is what scripts/call-path prints today: each block
that follows the marker comment is rerun and compared, line numbers aside (they move with every
edit above them; the files, the layers and what is said of them must not).
usage: check_call_path_doc.py SOURCE_DIR"""
import re, subprocess, sys

src = sys.argv[1]
doc = open(f'{src}/docs/design.md').read()
blocks = re.findall(r'<!-- call-path example[^>]*-->\n```\n\$ (scripts/call-path[^\n]*)\n(.*?)```',
                    doc, re.S)
if not blocks:
    sys.exit('FAIL: docs/design.md has no call-path example')


def norm(text):
    return [re.sub(r'\s+', ' ', re.sub(r'(\.\w+):\d+', r'\1', l)).strip()
            for l in text.strip().splitlines()]


failed = False
for cmd, shown in blocks:
    out = subprocess.run(cmd.split(), cwd=src, capture_output=True, text=True, check=True).stdout
    for i, (a, b) in enumerate(zip(norm(shown) + [''] * 99, norm(out) + [''] * 99)):
        if a != b:
            print(f'FAIL: docs/design.md\'s "{cmd}" differs from what it prints now, line {i + 1}:'
                  f'\n  docs: {a}\n  now:  {b}')
            failed = True
            break
    if not failed:
        print(f'{cmd}: docs/design.md shows what it prints ({len(norm(out))} lines)')
sys.exit(1 if failed else 0)
