"""B8: upload of N small files: ``llamabatch upload FOLDER`` vs a loop over the official SDK 2.19.

One folder of N small files (a few hundred bytes each, in 10 subfolders) is uploaded, side by
side in one run, into two new directories of one emulator (another process, 50 ms added to
every ``/api`` response):

- the SDK side, in the SDK-2.19 venv (``tests/emulator/v2/conftest.py`` creates it), loops over
  ``client.beta.directories.files.upload(directory_id, upload_file=path, display_name=…,
  unique_id=…)`` for each file (the directory is created first, not timed);
- ours is the ``llamabatch upload FOLDER --directory-name NAME --json`` command (``cli.run``,
  timed around the call: no interpreter start), with its defaults but ``--rate-limit 0`` (the
  emulator has no rate limit to keep under): the folder walk and SHA-256 of every file, the
  directory created, the uploads ``--concurrency`` at a time.

Then, over the unchanged folder: a rerun of ours into the directory it created
(``--directory-id``), which must upload nothing, against a plain listing of that directory
(``BatchClient.iter_directory_files``, and the SDK's ``files.list`` auto-paging for
reference). Request counts are the emulator's own per-route counts.

Usage: ``python bench/run.py B8`` (``--quick``: 1,000 files), or standalone
``python bench/b8_upload.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

from b7_outputs import _child, _sdk_python  # the SDK-2.19 venv and child processes, as in B7
from harness import (
    Context,
    EmulatorProcess,
    Section,
    Target,
    count,
    ratio,
    request_delta,
    secs,
)

TITLE = "B8 · upload of N small files: llamabatch upload vs an SDK upload loop (50 ms latency)"
LATENCY = 0.05
FULL_FILES = 10_000
QUICK_FILES = 1_000
SUBFOLDERS = 10

_SDK_LOOP = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from llama_cloud import LlamaCloud
    args = json.loads(sys.argv[1])
    root = Path(args["folder"])
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    with LlamaCloud(api_key=args["api_key"], base_url=args["base_url"]) as client:
        files = client.beta.directories.files
        if args["mode"] == "upload":
            started = time.perf_counter()
            for path in paths:
                relative = path.relative_to(root).as_posix()
                files.upload(args["directory_id"], upload_file=path, display_name=relative,
                             unique_id=relative)
            print(json.dumps({"wall": time.perf_counter() - started, "files": len(paths)}))
        else:
            started = time.perf_counter()
            n = sum(1 for _ in files.list(args["directory_id"]))
            print(json.dumps({"wall": time.perf_counter() - started, "files": n}))
    """
)

_OURS = textwrap.dedent(
    """
    import contextlib, io, json, os, sys, time
    from prefect_llamabatch import BatchClient
    from prefect_llamabatch.cli import run
    args = json.loads(sys.argv[1])
    os.environ["LLAMA_CLOUD_API_KEY"] = args["api_key"]
    if args["mode"] == "list":
        with BatchClient(args["api_key"], base_url=args["base_url"]) as client:
            started = time.perf_counter()
            n = sum(1 for _ in client.iter_directory_files(args["directory_id"]))
            wall = time.perf_counter() - started
        print(json.dumps({"wall": wall, "files": n}))
        raise SystemExit(0)
    # The emulator does not rate-limit: unpaced (--rate-limit 0), see the notes.
    argv = ["upload", args["folder"], "--base-url", args["base_url"], "--json", "--rate-limit", "0"]
    if args.get("directory_id"):
        argv += ["--directory-id", args["directory_id"]]
    else:
        argv += ["--directory-name", args["directory_name"]]
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = run(argv)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"llamabatch upload exited {code}")
    result = json.loads(out.getvalue())
    print(json.dumps({"wall": wall, "directory_id": result["directory_id"],
                      "uploaded": len(result["uploaded"]), "unchanged": len(result["unchanged"]),
                      "files": len(result["files"])}))
    """
)


def _folder(root: Path, n: int) -> Path:
    folder = root / "documents"
    for i in range(n):
        sub = folder / f"part-{i % SUBFOLDERS:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"doc-{i:06d}.txt").write_text(f"document {i}\n" + "Some small text. " * 20)
    return folder


def _calls(delta: dict[str, int]) -> str:
    shown = {k: v for k, v in sorted(delta.items()) if k != "total" and v}
    return ", ".join(f"{k} {count(v)}" for k, v in shown.items()) or "none"


def run(ctx: Context) -> Section:
    """Measure B8 (see the module docstring)."""
    n = QUICK_FILES if ctx.quick else FULL_FILES
    sdk_python = _sdk_python()
    ours_python = Path(sys.executable)
    with (
        EmulatorProcess("--response-latency", str(LATENCY)) as emu,
        tempfile.TemporaryDirectory(prefix="b8-") as tmp,
    ):
        folder = _folder(Path(tmp), n)
        args = {"api_key": emu.api_key, "base_url": emu.base_url, "folder": str(folder)}
        sdk_dir = emu.admin.seed_directory({}, name="b8-sdk").id
        ctx.log(f"B8: SDK 2.19 upload loop over {n:,} files")
        with request_delta(emu) as sdk_calls:
            sdk = _child(sdk_python, _SDK_LOOP, {**args, "mode": "upload", "directory_id": sdk_dir})
        ctx.log(f"B8: SDK loop {sdk['wall']:.1f} s; llamabatch upload over {n:,} files")
        with request_delta(emu) as first_calls:
            first = _child(ours_python, _OURS, {**args, "mode": "upload", "directory_name": "b8"})
        directory_id = first["directory_id"]
        ctx.log(f"B8: ours {first['wall']:.1f} s; rerun over the unchanged folder")
        with request_delta(emu) as rerun_calls:
            rerun = _child(
                ours_python, _OURS, {**args, "mode": "upload", "directory_id": directory_id}
            )
        with request_delta(emu) as list_calls:
            listing = _child(
                ours_python, _OURS, {**args, "mode": "list", "directory_id": directory_id}
            )
        with request_delta(emu) as sdk_list_calls:
            sdk_listing = _child(
                sdk_python, _SDK_LOOP, {**args, "mode": "list", "directory_id": directory_id}
            )
    assert sdk["files"] == n and first["files"] == n and first["uploaded"] == n, (sdk, first)
    assert listing["files"] == n == sdk_listing["files"], (listing, sdk_listing)
    speedup = sdk["wall"] / first["wall"]
    judged = not ctx.quick
    rows = [
        [
            f"SDK 2.19 loop of files.upload ({n:,} files)",
            secs(sdk["wall"]),
            count(sdk_calls["total"]),
            _calls(sdk_calls),
            count(n),
            "1.00×",
        ],
        [
            f"llamabatch upload ({n:,} files)",
            secs(first["wall"]),
            count(first_calls["total"]),
            _calls(first_calls),
            count(first["uploaded"]),
            ratio(speedup),
        ],
        [
            "llamabatch upload again, folder unchanged",
            secs(rerun["wall"]),
            count(rerun_calls["total"]),
            _calls(rerun_calls),
            count(rerun["uploaded"]),
            "",
        ],
        [
            "plain listing of the directory (BatchClient.iter_directory_files)",
            secs(listing["wall"]),
            count(list_calls["total"]),
            _calls(list_calls),
            "",
            "",
        ],
        [
            "plain listing of the directory (SDK files.list, auto-paging)",
            secs(sdk_listing["wall"]),
            count(sdk_list_calls["total"]),
            _calls(sdk_list_calls),
            "",
            "",
        ],
    ]
    # The rerun also walks and hashes the whole folder locally; "no more than a listing" allows
    # that local work 10% of the listing's wall time (the API cost, requests, must not exceed it).
    wall_ratio = rerun["wall"] / listing["wall"]
    return Section(
        id="B8",
        title=TITLE,
        columns=["side", "wall", "requests", "by route", "files uploaded", "speed-up"],
        rows=rows,
        targets=[
            Target(
                "B8 upload of 10,000 small files vs the SDK loop",
                "≥ 5× faster",
                ratio(speedup),
                speedup >= 5 if judged else None,
            ),
            Target(
                "B8 rerun over the unchanged folder: files uploaded",
                "0",
                count(rerun["uploaded"]),
                rerun["uploaded"] == 0 and rerun["unchanged"] == n if judged else None,
            ),
            Target(
                "B8 rerun vs a plain listing of the directory",
                "requests ≤ the listing's; wall ≤ 1.1× the listing's",
                f"{count(rerun_calls['total'])} vs {count(list_calls['total'])} requests; "
                f"{secs(rerun['wall'])} vs {secs(listing['wall'])} ({ratio(wall_ratio)})",
                rerun_calls["total"] <= list_calls["total"] and wall_ratio <= 1.1
                if judged
                else None,
            ),
        ],
        notes=[
            f"{n:,} files of about 350 bytes in {SUBFOLDERS} subfolders; emulator in another "
            f"process with {LATENCY * 1000:.0f} ms added to every /api response; every side is "
            "its own child process, timed around the work (no interpreter start).",
            "Ours is `llamabatch upload FOLDER --json --rate-limit 0` with its default "
            "--concurrency (16); its wall time includes walking and hashing the folder and "
            "creating the directory.",
            "The SDK loop sends each file with its relative path as display_name and unique_id "
            "and does no hashing; ours also records each file's SHA-256 in its metadata.",
            "The rerun reads the directory's listing once and compares each file's SHA-256 "
            "(kept in the file's metadata at upload) with the local file's: it hashes every "
            "local file again (beside the listing), so a changed file is never skipped.",
            "The emulator does not rate-limit, so ours runs unpaced here. LlamaCloud publishes a "
            "limit on uploads (about 50 requests per 5 s per project, 429 past it, no "
            "guaranteed Retry-After): by default `llamabatch upload` and `upload_directory` "
            "start at most 50 uploads per 5 s (--rate-limit / rate_limit), so a large folder "
            "there takes at least N / 10 s, and no storm of 429s uses up its retries.",
        ],
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    section = run(Context(quick="--quick" in sys.argv, log=print, prefect=lambda: None))
    for row in [section.columns, *section.rows]:
        print(" | ".join(row))
    for target in section.targets:
        print(f"{target.what}: {target.measured} (target {target.target}, met: {target.met})")
    for note in section.notes:
        print(note)
