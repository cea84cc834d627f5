"""The iOS demo's sources agree with the exporter and the bench protocol.

Nothing Swift can be compiled here, so this reads the sources: the Core ML
interface of a freshly exported model (input and output names, metadata keys)
must be the names the Swift code uses, the benchmark scheme and result marker
must be the ones ``mobilevid.bench.ios`` drives, and the hand-written Xcode
project must parse and reference every Swift file of the app and the test.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mobilevid.bench import ios
from mobilevid.export.coreml import METADATA_KEYS

DEMO = Path(__file__).resolve().parents[1] / "ios_demo"
PROJECT = DEMO / "MobilevidDemo.xcodeproj"
CORE = DEMO / "MobilevidCore"


def _swift_files() -> list[Path]:
    return sorted(p for p in DEMO.rglob("*.swift") if ".build" not in p.parts)


def _string_literals(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for p in paths:
        found.update(re.findall(r'"((?:[^"\\\n]|\\.)*)"', p.read_text(encoding="utf-8")))
    return found


# -- a small parser for Xcode's OpenStep property lists (project.pbxproj) ------

_TOKEN = re.compile(
    r'\s*(?:(?P<comment>/\*.*?\*/|//[^\n]*)|(?P<quoted>"(?:[^"\\]|\\.)*")'
    r"|(?P<word>[A-Za-z0-9_$+/:.\-<>]+)|(?P<punct>[{}();=,]))",
    re.S,
)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"pbxproj: unexpected text at {pos}: {text[pos : pos + 40]!r}")
        pos = m.end()
        if m.group("comment"):
            continue
        if m.group("quoted"):
            out.append(("s", m.group("quoted")[1:-1].replace('\\"', '"')))
        elif m.group("word"):
            out.append(("s", m.group("word")))
        else:
            out.append(("p", m.group("punct")))
    return out


def parse_plist(text: str):
    toks = _tokens(text)
    i = 0

    def value():
        nonlocal i
        kind, tok = toks[i]
        i += 1
        if kind == "s":
            return tok
        if tok == "{":
            d = {}
            while toks[i] != ("p", "}"):
                key = value()
                assert toks[i] == ("p", "="), f"expected = after {key!r}"
                i += 1
                if key in d:
                    raise ValueError(f"duplicate key {key!r}")
                d[key] = value()
                assert toks[i] == ("p", ";"), f"expected ; after {key!r}"
                i += 1
            i += 1
            return d
        if tok == "(":
            items = []
            while toks[i] != ("p", ")"):
                items.append(value())
                if toks[i] == ("p", ","):
                    i += 1
            i += 1
            return items
        raise ValueError(f"unexpected {tok!r}")

    root = value()
    assert i == len(toks), "trailing tokens after the root dictionary"
    return root


@pytest.fixture(scope="module")
def pbx() -> dict:
    text = (PROJECT / "project.pbxproj").read_text(encoding="utf-8")
    assert text.startswith("// !$*UTF8*$!")
    return parse_plist(text)


@pytest.fixture(scope="module")
def interface(tmp_path_factory):
    """Input/output names and metadata keys of a real exported .mlpackage."""
    ct = pytest.importorskip("coremltools")
    from mobilevid.export import ExportConfig, export

    out = tmp_path_factory.mktemp("ios")
    r = export(ExportConfig(variant="560m", target="coreml", frames=8, size=64, output=out))
    spec = ct.utils.load_spec(str(r.path))
    return {
        "inputs": [i.name for i in spec.description.input],
        "outputs": [o.name for o in spec.description.output],
        "metadata": sorted(spec.description.metadata.userDefined),
        "stem": r.path.stem,
    }


@pytest.mark.slow
def test_swift_uses_the_exported_interface(interface):
    assert interface["inputs"] == ["video"] and interface["outputs"] == ["logits"]
    assert set(METADATA_KEYS) <= set(interface["metadata"])
    core = (CORE / "Sources/MobilevidCore/ModelSpec.swift").read_text()
    assert f'inputName = "{interface["inputs"][0]}"' in core
    assert f'outputName = "{interface["outputs"][0]}"' in core
    literals = _string_literals(_swift_files())
    for key in METADATA_KEYS:
        assert key in literals, f"{key} is not used by the Swift sources"
    # the metadata keys the Swift side knows are exactly the exporter's
    declared = re.findall(r'static let \w+ = "(mobilevid\.[a-z]+)"', core)
    assert sorted(declared) == sorted(METADATA_KEYS)
    # the benchmark's metric name parser understands the exporter's file names
    model, backend, quant = interface["stem"].rsplit("_", 2)
    assert (model, backend, quant) == ("vmf-560m", "coreml", "fp16")  # Core ML's default
    report = (CORE / "Sources/MobilevidCore/BenchReport.swift").read_text()
    assert 'backend = "coreml"' in report


def test_bench_protocol_names_match_the_python_side():
    report = (CORE / "Sources/MobilevidCore/BenchReport.swift").read_text()
    assert f'marker = "{ios.MARK}"' in report
    from mobilevid.bench.android import DEVICE_FORMAT

    assert f'format = "{DEVICE_FORMAT}"' in report
    for name in (
        "avg_inference_latency(ms)",
        "trimmean_inference_latency(ms)",
        "model_load_time(ms)",
    ):
        assert f'"{name}"' in report
    keys = report[report.index("enum CodingKeys") :]
    keys = keys[: keys.index("}")]
    for key in ("format", "model", "threads", "warmup", "runs", "model_load_time_ms"):
        assert re.search(rf'"{key}"|case (\w+, )*{key}\b', keys), key
    for key in ("times_ms", "error", "compute_units", "metrics"):
        assert re.search(rf'"{key}"|case (\w+, )*{key}\b', keys), key
    scheme = PROJECT / "xcshareddata" / "xcschemes" / f"{ios.SCHEME}.xcscheme"
    assert scheme.is_file(), f"shared scheme {ios.SCHEME} missing"
    tests = ET.parse(scheme).getroot().find("TestAction")
    names = [b.get("BlueprintName") for b in tests.iter("BuildableReference")]
    assert "MobilevidBenchmarkTests" in names
    env = {e.get("key"): e.get("value") for e in tests.iter("EnvironmentVariable")}
    # the build settings ios.xcodebuild_args passes reach the test
    args = ios.xcodebuild_args("UDID", Path("r.xcresult"), _Cfg())
    passed = {a.split("=")[0] for a in args if re.fullmatch(r"[A-Z_]+=\S+", a)}
    plist = (DEMO / "MobilevidBenchmarkTests" / "Info.plist").read_text()
    bench = (DEMO / "MobilevidBenchmarkTests" / "BenchmarkTests.swift").read_text()
    for setting in passed:
        assert env.get(setting) == f"$({setting})"
        assert f"<string>$({setting})</string>" in plist
        assert f'"{setting}"' in bench
    assert "BenchModels" in bench
    assert ios.PROJECT == DEMO and (PROJECT / "project.pbxproj").is_file()


class _Cfg:
    warmup = 2
    runs = 5


def test_project_references_every_swift_file(pbx):
    objects = pbx["objects"]
    assert pbx["rootObject"] in objects
    for oid in objects:
        assert re.fullmatch(r"[0-9A-F]{24}", oid), oid

    # every id mentioned anywhere exists
    def refs(x):
        if isinstance(x, dict):
            for v in x.values():
                yield from refs(v)
        elif isinstance(x, list):
            for v in x:
                yield from refs(v)
        elif isinstance(x, str) and re.fullmatch(r"[0-9A-F]{24}", x):
            yield x

    dangling = {r for o in objects.values() for r in refs(o)} - set(objects)
    assert not dangling, dangling

    # full path of every file reference, through the groups
    parents = {}
    for oid, o in objects.items():
        for child in o.get("children", []):
            parents[child] = oid

    def path(oid):
        parts = []
        while oid in objects:
            p = objects[oid].get("path")
            if p:
                parts.append(p)
            oid = parents.get(oid)
        return "/".join(reversed(parts))

    files = {path(i): i for i, o in objects.items() if o["isa"] == "PBXFileReference"}
    for p in files:
        if objects[files[p]].get("sourceTree") == "<group>":
            assert (DEMO / p).exists(), f"project references missing {p}"

    # which target compiles each file
    compiled: dict[str, str] = {}
    for t in (o for o in objects.values() if o["isa"] == "PBXNativeTarget"):
        for ph in t["buildPhases"]:
            if objects[ph]["isa"] == "PBXSourcesBuildPhase":
                for bf in objects[ph]["files"]:
                    compiled[path(objects[bf]["fileRef"])] = t["name"]
    app_and_tests = [
        p.relative_to(DEMO).as_posix() for p in _swift_files() if not p.is_relative_to(CORE)
    ]
    assert app_and_tests, "no Swift sources"
    for p in app_and_tests:
        want = (
            "MobilevidBenchmarkTests"
            if p.startswith("MobilevidBenchmarkTests/")
            else "MobilevidDemo"
        )
        assert compiled.get(p) == want, f"{p} is not compiled by {want}"
    assert set(compiled) == set(app_and_tests)

    # the core is the local package both targets link
    (pkg,) = [o for o in objects.values() if o["isa"] == "XCLocalSwiftPackageReference"]
    assert (DEMO / pkg["relativePath"] / "Package.swift").is_file()
    deps = [o for o in objects.values() if o["isa"] == "XCSwiftPackageProductDependency"]
    assert {d["productName"] for d in deps} == {"MobilevidCore"} and len(deps) == 2
    # BenchModels is a folder reference copied into the test bundle
    (bench_models,) = [i for p, i in files.items() if p == "BenchModels"]
    assert objects[bench_models]["lastKnownFileType"] == "folder"
    tests = next(o for o in objects.values() if o.get("name") == "MobilevidBenchmarkTests")
    resources = [objects[ph] for ph in tests["buildPhases"]]
    copied = [
        objects[bf]["fileRef"]
        for ph in resources
        if ph["isa"] == "PBXResourcesBuildPhase"
        for bf in ph["files"]
    ]
    assert copied == [bench_models]
    # the schemes point at real targets
    targets = {i: o["name"] for i, o in objects.items() if o["isa"] == "PBXNativeTarget"}
    for scheme in (PROJECT / "xcshareddata" / "xcschemes").glob("*.xcscheme"):
        for b in ET.parse(scheme).getroot().iter("BuildableReference"):
            assert targets.get(b.get("BlueprintIdentifier")) == b.get("BlueprintName"), scheme.name


def test_core_package_lists_its_sources_and_vectors():
    manifest = (CORE / "Package.swift").read_text()
    assert 'name: "MobilevidCore"' in manifest and ".iOS(.v17)" in manifest
    tests = "\n".join(p.read_text() for p in (CORE / "Tests").rglob("*.swift"))
    generate = Path(__file__).parent / "app_vectors" / "generate.py"
    generated = generate.read_text()
    names = ("sampling", "preprocess", "topk", "stats", "sidecar", "windows")
    for name in (f"{n}.json" for n in names):
        assert f'"{name}"' in tests, f"the Swift tests do not read {name}"
        assert name in generated
    assert "#filePath" in tests and '"app_vectors"' in tests


def test_live_mode_core_uses_the_vector_keys_and_the_java_names():
    """The Swift live-mode core (Windows, LiveSchedule, Smoother) decodes every
    key of windows.json and offers the operations the Java core offers."""
    import json

    vec = json.loads((Path(__file__).parent / "app_vectors" / "windows.json").read_text())
    text = (CORE / "Tests/MobilevidCoreTests/Vectors.swift").read_text()
    block = text[text.index("struct WindowsVectors") : text.index("func assertClose")]
    keys = set(vec) - {"what"}
    keys |= set(vec["hops"][0]) | set(vec["cases"][0]) | set(vec["smoothing"][0])
    keys |= {k for a in vec["cases"][0]["actions"] if a for k in a}
    for key in sorted(keys):
        assert re.search(rf"\blet {key}: ", block), f"Swift WindowsVectors lacks {key}"
    swift = (CORE / "Sources/MobilevidCore/Windows.swift").read_text()
    java_dir = DEMO.parent / "android_demo/core/src/main/java/org/mobilevid/core"
    java = "".join((java_dir / f).read_text() for f in ("Windows.java", "LiveSchedule.java",
                                                        "Smoother.java"))  # fmt: skip
    for name in ("Windows", "LiveSchedule", "Smoother", "hopFrames", "span", "due", "indices",
                 "onFrame", "onDone", "received", "started", "dropped", "add"):  # fmt: skip
        assert re.search(rf"\b{name}\b", swift) and re.search(rf"\b{name}\b", java), name
