#!/usr/bin/env python3
"""A real text-classification set available offline: the descriptions of
Debian's packages (`apt-cache dumpavail`), labelled with their sections,
hashed to sparse features and written as svmlight files.

    bench/debian_text.py OUT_DIR [--features 262144] [--min-count 100] [--seed 0]

Each package (once, by name) becomes one row: the words of its short and
long description (lower case, [a-z0-9]+; where the package lists carry
only the short ones, as this machine's do, about 12.5 entries a row, not
the 50-200 of the generated sets), unigrams and bigrams hashed
(CRC-32) into --features buckets, values 1 + log(count), each row scaled
to Euclidean norm 1. The label is the section without its archive area
("contrib/games" is "games"); sections with fewer than --min-count
packages are left out. A seeded 80/20 split goes to OUT_DIR/train.svm and
OUT_DIR/test.svm (one-based indices, integer labels: liblinear reads
them too) and the section names, one per label, to OUT_DIR/sections.txt.
"""
import argparse
import math
import os
import random
import re
import subprocess
import sys
import zlib

WORD = re.compile(r"[a-z0-9]+")


def packages(text):
    """(name, section, description) of each stanza of dumpavail's output."""
    for stanza in text.split("\n\n"):
        name = section = None
        desc = []
        in_desc = False
        for line in stanza.split("\n"):
            if line.startswith("Package:"):
                name = line[8:].strip()
            elif line.startswith("Section:"):
                section = line[8:].strip().split("/")[-1]
            if line.startswith("Description:"):
                desc.append(line[12:])
                in_desc = True
            elif in_desc and line.startswith(" "):
                desc.append(line)
            else:
                in_desc = line.startswith("Description:")
        if name and section and desc:
            yield name, section, " ".join(desc)


def row(text, width):
    words = WORD.findall(text.lower())
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    counts = {}
    for g in grams:
        j = zlib.crc32(g.encode()) % width
        counts[j] = counts.get(j, 0) + 1
    vals = {j: 1.0 + math.log(c) for j, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in vals.values())) or 1.0
    return sorted((j, v / norm) for j, v in vals.items())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--features", type=int, default=1 << 18)
    p.add_argument("--min-count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    text = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True,
                          text=True, errors="replace").stdout
    seen, rows = set(), []
    for name, section, desc in packages(text):
        if name not in seen:
            seen.add(name)
            rows.append((section, desc))
    count = {}
    for section, _ in rows:
        count[section] = count.get(section, 0) + 1
    sections = sorted(s for s, c in count.items() if c >= a.min_count)
    label = {s: k for k, s in enumerate(sections)}
    rows = [(label[s], d) for s, d in rows if s in label]
    random.Random(a.seed).shuffle(rows)
    cut = len(rows) * 4 // 5
    os.makedirs(a.out, exist_ok=True)
    for name, part in (("train.svm", rows[:cut]), ("test.svm", rows[cut:])):
        with open(os.path.join(a.out, name), "w") as f:
            for y, desc in part:
                f.write(str(y) + "".join(" %d:%.6g" % (j + 1, v) for j, v in row(desc, a.features)))
                f.write("\n")
    with open(os.path.join(a.out, "sections.txt"), "w") as f:
        f.write("\n".join(sections) + "\n")
    print("debian_text: %d packages in %d sections (%d train, %d test), %d features -> %s"
          % (len(rows), len(sections), cut, len(rows) - cut, a.features, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
