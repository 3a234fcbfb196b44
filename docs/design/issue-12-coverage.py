# How well does "path components joined = normalized dist name" attribute files,
# against RECORD as ground truth, over every installed distribution?
import os, re, sys, time
from importlib.metadata import distributions
norm = lambda n: re.sub(r"[-_.]+", "_", n).lower()
site = [p for p in sys.path if p.endswith("site-packages")][0]
t = time.perf_counter()
finder = sys.path_importer_cache.get(site)
names = getattr(finder, "_path_cache", None) or set(os.listdir(site))
index = {}
for n in names:
    if n.endswith(".dist-info"):
        name, _, ver = n[:-10].partition("-")
        index[norm(name)] = (name, ver)
t_index = time.perf_counter() - t
def guess(rel):
    parts = rel.split("/")
    if parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    for k in range(len(parts), 0, -1):
        hit = index.get(norm("_".join(parts[:k])))
        if hit: return hit[0]
    return None
ok = bad = none = 0; misses = {}
for d in distributions():
    if not d.files: continue
    for f in d.files:
        s = str(f)
        if not s.endswith(".py") or s.startswith(".."): continue
        g = guess(s)
        if g is None: none += 1; misses.setdefault(d.metadata["Name"], set()).add(s.split("/")[0])
        elif norm(g) == norm(d.metadata["Name"]): ok += 1
        else: bad += 1; misses.setdefault("WRONG " + d.metadata["Name"] + "->" + g, set()).add(s.split("/")[0])
print(f"index {t_index*1e3:.2f} ms from {'FileFinder cache' if getattr(finder,'_path_cache',None) else 'listdir'}; {len(index)} dists")
print(f".py files: right {ok}, wrong {bad}, unattributed {none}")
for k, v in sorted(misses.items()): print(" ", k, sorted(v)[:4])
# cost of ground truth for the dists no top-level entry names
tops = {norm(n.split(".")[0]) for n in names if not n.endswith((".dist-info", ".pth")) and not n.startswith("__")}
unmatched = [n for n in names if n.endswith(".dist-info") and norm(n[:-10].partition("-")[0]) not in tops]
t = time.perf_counter(); tl = rec = 0; recbytes = 0
for n in unmatched:
    base = os.path.join(site, n)
    try:
        with open(os.path.join(base, "top_level.txt")) as f: f.read(); tl += 1
    except FileNotFoundError:
        with open(os.path.join(base, "RECORD")) as f: recbytes += len(f.read()); rec += 1
print(f"{len(unmatched)} unmatched dists: {tl} top_level.txt, {rec} RECORD ({recbytes//1024} KiB) read in {1e3*(time.perf_counter()-t):.2f} ms")
