#!/usr/bin/env python3
"""Every path of the project named in a comment, a script or a document exists: a reader who
follows `src/worker/enforce.c` or `docs/vgpu.md` from anywhere lands on a file. A path counts
when it starts with one of the project's top folders; `*` is a glob, `:LINE` is dropped, an
upper-case stem (`tests/kernels/NAME.cu`) is a placeholder, and a path may be relative to the
folder of the file that names it (a script that runs from its own folder).

It also fails on a path into the folder named shared that sits beside the repository (written
with a leading `../`, absolute, or bare with a docs folder or a file name at the end): that
folder is not part of a clone, so a reader cannot follow such a path. Facts taken from there
belong in our own words under docs/, and the file should name that. Words that merely contain
the name (PTX's `.shared` space, "shared/local sizes") are not paths and pass.
usage: check_paths.py SOURCE_DIR"""
import glob, os, re, sys

src = sys.argv[1]
TOPS = ('src', 'docs', 'scripts', 'tests', 'include', 'bench', 'deploy', '.ci')
TEXT = re.compile(r'\.(c|h|def|md|py|sh|txt|cmake|json|yaml|yml|map)$|^(Makefile|README)')
PATH = re.compile(r'(?<![\w./$-])((?:' + '|'.join(re.escape(t) for t in TOPS) +
                  r')/[\w./*-]*[\w*])')
# A path into the shared folder beside the repository: through '..', absolute, or bare.
OUTSIDE = re.compile(r'(?<![\w.$/-])((?:\.\./)+shared/[\w./*-]*|(?:/[\w.-]+)+/shared/[\w./*-]*'
                     r'|shared/[\w./*-]*[\w*])')


def named_in(path):
    text = open(path, encoding='utf-8', errors='replace').read()
    for m in PATH.finditer(text):
        yield text.count('\n', 0, m.start()) + 1, re.sub(r':\d+$', '', m[1])


def outside_named_in(path):
    """The paths into the shared folder beside the repository that a file names. A bare
    `shared/x` counts only when it goes into docs/ or ends in a file name with an extension."""
    text = open(path, encoding='utf-8', errors='replace').read()
    for m in OUTSIDE.finditer(text):
        p = re.sub(r':\d+$', '', m[1]).rstrip('.')
        first, _, rest = p.partition('/')
        if first != 'shared' or rest == 'docs' or rest.startswith('docs/') or \
                re.search(r'\.[A-Za-z]\w*$', p.rsplit('/', 1)[-1]):
            yield text.count('\n', 0, m.start()) + 1, p


def exists(p, base):
    if re.search(r'/[A-Z][A-Z_]{2,}(\.\w+)?$', p):      # NAME.cu: a placeholder
        return True
    return any(glob.glob(os.path.join(root, p)) for root in (src, base))


files = [os.path.join(src, f) for f in ('README.md', 'Makefile', 'CMakeLists.txt')]
for top in TOPS:
    for root, dirs, names in os.walk(os.path.join(src, top)):
        dirs[:] = [d for d in dirs if not d.startswith(('build', '.'))]
        files += [os.path.join(root, n) for n in names if TEXT.search(n) or top == 'scripts']
missing = [(os.path.relpath(f, src), line, p) for f in files if os.path.isfile(f)
           for line, p in named_in(f) if not exists(p, os.path.dirname(f))]
outside = [(os.path.relpath(f, src), line, p) for f in files if os.path.isfile(f)
           for line, p in outside_named_in(f)]
for f, line, p in missing:
    print(f'FAIL: {f}:{line} names {p}, which does not exist')
for f, line, p in outside:
    print(f'FAIL: {f}:{line} names {p}, which is outside the repository '
          f'(state the facts under docs/ and name that file)')
print(f'{len(files)} files read, {len(missing)} name a path that does not exist, '
      f'{len(outside)} a path outside the repository')
sys.exit(1 if missing or outside else 0)
