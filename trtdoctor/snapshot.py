"""The shapes of trtdoctor's JSON documents: the check report (``trtdoctor.report/1``) with
its snapshot, the fix plan (``trtdoctor.plan/1``) and the smoke report (``trtdoctor.smoke/1``).

These TypedDicts are the single source of the published JSON Schemas in
``trtdoctor/schemas/`` (``scripts/make_schemas.py`` writes them; a test keeps them equal),
and ``report.load`` checks every saved report against them before a rule sees it.

Rules for reading them:

- ``/1`` may gain keys but never loses or renames one, so every record accepts unknown keys.
  Keys added after ``/1`` was published are optional.
- An area's own keys are all optional: tools and tests write partial areas, and every reader
  takes them with a default. Inside an area, a record's keys are required when its probe
  always writes them; keys written only sometimes are optional (``total=False``).
- Every probe area may instead be ``{"error": "could not collect: ..."}`` (``AreaError``).
- Keys starting with ``_`` (timings) are never in a report.
- ``Annotated[X, JSONSchema(...)]`` adds JSON Schema keywords (a pattern) to a type: used
  where a reader parses the value and cannot cope with any other text.
"""

from __future__ import annotations

from typing import Annotated, Dict, List, Literal, Optional, TypedDict, Union

from .probes.frameworks import TRT_PARTS


class JSONSchema:
    """Extra JSON Schema keywords for an ``Annotated`` type (hashable, so ``Optional`` works)."""

    def __init__(self, **keywords: object):
        self.keywords = keywords

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.keywords.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONSchema) and other.keywords == self.keywords

    def __repr__(self) -> str:
        return f"JSONSchema(**{self.keywords!r})"


def closed(cls):
    """Mark a record that takes no other keys (like PEP 728's ``closed=True``)."""
    cls.__closed__ = True
    return cls


# A dotted number ("13.0", "3.12", "580.159.04"), for values the rules parse into a version
# and compare: anything else would make them fail. Digits are ASCII and short on purpose.
VersionNumber = Annotated[str, JSONSchema(pattern=r"^[0-9]{1,9}(\.[0-9]{1,9}){0,5}$")]
# A device list for CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES: CUDA reads ASCII only
# (indexes, GPU-/MIG- UUIDs, commas), and the rules parse leading digits as an index.
DeviceList = Annotated[str, JSONSchema(pattern=r"^[ -~]*$")]
# A TensorRT pip distribution name, as the TensorRT probe picks them.
TrtPartName = Annotated[str, JSONSchema(pattern=TRT_PARTS.pattern)]


@closed
class AreaError(TypedDict):
    """An area (or a live sub-probe) that could not be collected: ``could not collect: <why>``."""

    error: str


class _Area(TypedDict, total=False):
    # Readers take any area holding ``error`` as not (fully) collected, so it is a string
    # wherever it appears; a live phase that fails after the static one adds it to the facts.
    error: str


# --- os, env ---------------------------------------------------------------------------


class OsArea(_Area, total=False):
    """The operating system of the judged root. ``id``/``version_id``/``name`` come from
    os-release and are absent without one. ``arch`` uses ELF machine names (``x86-64``,
    ``aarch64``) because the loader model matches libraries by them. ``glibc`` and
    ``glibcxx`` are the highest versions libc.so.6 / libstdc++.so.6 define, compared with
    what libraries need. ``libc_error`` says why libc could not be read. ``libc`` and
    ``libstdcxx`` are the files a program gets for libc.so.6 / libstdc++.so.6 (``libc``
    None: the root has no C library at all); ``ld_so_cache``: /etc/ld.so.cache exists."""

    id: Optional[str]
    version_id: Optional[str]
    name: Optional[str]
    kernel: Optional[str]
    arch: Optional[str]
    glibc: Optional[str]
    glibcxx: Optional[str]
    libc_error: str
    libc: Optional[str]
    libstdcxx: Optional[str]
    ld_so_cache: bool
    wsl2: bool
    container: bool
    container_markers: List[str]


class PathEntry(TypedDict):
    """One entry of a path list; an empty ``path`` is an empty entry (the current directory)."""

    path: str
    exists: bool


class EnvArea(_Area, total=False):
    """The judged environment. ``vars`` holds allow-listed variables only, secret-looking
    names masked as ``<redacted>``. The visible-devices variables are null when unset
    (an empty string hides every GPU)."""

    vars: Dict[str, str]
    ld_library_path: List[PathEntry]
    ld_preload: List[PathEntry]
    cuda_visible_devices: Optional[DeviceList]
    nvidia_visible_devices: Optional[DeviceList]


# --- nvml, driver, gpus, devices, cuda ---------------------------------------------------


class _NvmlDeviceBase(TypedDict):
    index: int
    name: str
    uuid: str
    mig_mode: Optional[int]


class NvmlDevice(_NvmlDeviceBase, total=False):
    """A GPU as NVML (or ``nvidia-smi``) lists it; ``mig_mode`` is 1 enabled, 0 disabled."""

    compute_capability: Optional[str]
    memory_total_mib: Optional[int]


class NvmlArea(_Area, total=False):
    """Live only: NVML and the CUDA driver API asked from a child process with the judged
    environment. ``cuda_driver_version`` is NVML's integer (13000 = 13.0).
    ``cuDriverGetVersion`` is ``[return code, version]``; ``cuInit`` is its return code (0 =
    success) with ``cuInit_name`` its CUDA error name. ``*_error`` keys say which step failed;
    ``devices``/``driver``/``source`` may come from ``nvidia-smi`` when NVML cannot answer.
    ``error`` is set when the child itself failed (crashed, timed out)."""

    skipped: str
    driver: Optional[str]
    cuda_driver_version: int
    cuda_driver_version_error: str
    devices: List[NvmlDevice]
    source: str
    nvml_error: str
    cuDriverGetVersion: List[int]
    cuInit: int
    cuInit_name: Optional[str]
    cuda_device_count: int
    libcuda_error: str
    probe_error: str
    smi_error: str


class DriverLib(TypedDict):
    """A user-space driver library file (``libcuda.so.<version>``); symlinks are counted once."""

    path: str
    version: str
    size: int


class CompatLib(TypedDict):
    """A CUDA forward-compatibility ``libcuda`` under ``/usr/local/cuda*/compat``."""

    path: str
    version: str


class DriverArea(_Area, total=False):
    """The NVIDIA driver: kernel module (from /proc and /sys), user-space libraries, and the
    highest CUDA it supports. ``version`` is the best single answer (NVML when live, else the
    kernel module, else the libraries). ``cuda_driver_version`` comes from NVML when live,
    else from the knowledge base (then ``cuda_driver_version_source`` says so)."""

    kernel_module: Optional[str]
    proc_present: bool
    kernel_module_open: bool
    sys_module: Optional[str]
    libcuda: List[DriverLib]
    libnvidia_ml: List[DriverLib]
    compat_libcuda: List[CompatLib]
    wsl_libcuda: Optional[str]
    userspace_versions: List[str]
    version: Optional[VersionNumber]
    cuda_driver_version: Optional[VersionNumber]
    cuda_driver_version_source: str


class _GpuDeviceBase(TypedDict):
    index: int
    name: Optional[str]
    uuid: Optional[str]
    compute_capability: Optional[str]
    source: str


class GpuDevice(_GpuDeviceBase, total=False):
    """A GPU: from NVML/``nvidia-smi`` when live, from /proc/driver/nvidia/gpus when static
    (then ``bus_id``). ``source`` says which. ``cc_source`` says where the compute capability
    came from: ``nvml`` (the driver's own answer, which always wins), ``name`` (the model name
    in kb/gpus.yaml; then ``cc_verified`` says whether that row was checked against NVIDIA's
    table) or ``unknown model``."""

    bus_id: str
    cc_source: Literal["nvml", "name", "unknown model"]
    cc_verified: bool
    memory_total_mib: Optional[int]
    mig_mode: Optional[int]


class GpusArea(_Area, total=False):
    count: int
    devices: List[GpuDevice]


class DevicesArea(_Area, total=False):
    """``/dev/nvidia*`` node names; ``dev_populated`` tells an empty /dev (a test tree, a
    rootfs image) from one that lacks only the NVIDIA nodes."""

    nodes: List[str]
    dev_populated: bool


class _CudaToolkitBase(TypedDict):
    path: str
    version: str
    via: str


class CudaToolkit(_CudaToolkitBase, total=False):
    """A CUDA toolkit: its real ``path``, and ``via`` the name it was first found under.
    ``version_source``: ``version.json``, ``version.txt``, ``nvcc --version``, ``conda
    cuda-nvcc``, ``conda cuda-cudart`` or ``libcudart file name`` (then only X.Y)."""

    version_source: str
    nvcc: Optional[str]


class ToolkitPointer(TypedDict):
    """What leads a build to a toolkit: ``name`` is ``nvcc on PATH``, ``CUDA_HOME``,
    ``CUDA_PATH`` or ``/usr/local/cuda``; ``toolkit`` the real root it reaches (null when
    there is none), ``version`` its CUDA version (nvcc's own when asked live)."""

    name: str
    value: str
    exists: bool
    toolkit: Optional[str]
    version: Optional[str]


class Compiler(TypedDict):
    """The C++ compiler a plugin build would use (``source``: ``CXX``, ``c++ on PATH``,
    ``g++ on PATH``); ``version`` is the first line of ``--version`` (live only)."""

    path: str
    source: str
    version: Optional[str]


class CudaArea(_Area, total=False):
    """CUDA toolkits (/usr/local/cuda*, NVIDIA HPC SDK, $CONDA_PREFIX, and those reached
    through PATH, $CUDA_HOME, $CUDA_PATH); ``default`` is where /usr/local/cuda points."""

    toolkits: List[CudaToolkit]
    default: Optional[str]
    cuda_home: Optional[str]
    pointers: List[ToolkitPointer]
    cxx: Optional[Compiler]


# --- python ------------------------------------------------------------------------------


class _PythonEnvironmentBase(TypedDict):
    kind: str
    python: Optional[str]


class PythonEnvironment(_PythonEnvironmentBase, total=False):
    """One Python environment (a site dir). ``kind``: ``running`` (trtdoctor's own), ``--python``,
    ``venv``, ``conda``, ``system``, ``pythonpath`` (a ``PYTHONPATH`` entry) or ``user`` (the user site). ``python`` is an interpreter to run live probes with
    (null when static or unknown). ``packages`` maps normalized names to versions, only for
    GPU-relevant distributions. A ``--python`` interpreter that could not be asked has only
    ``kind``, ``python`` and ``error``."""

    prefix: Optional[str]
    site_packages: str
    python_version: Optional[VersionNumber]
    packages: Dict[str, str]
    error: str


class SysPathEntry(TypedDict):
    """One directory of an interpreter's ``sys.path`` after the standard library. ``source``:
    ``PYTHONPATH``, ``venv``, ``conda``, ``user``, ``system``, ``running``, ``--python`` or
    ``.pth <file>``; ``path`` is "" for an empty or relative PYTHONPATH entry (the current directory)."""

    path: str
    source: str
    exists: bool


class PthImport(TypedDict):
    """An ``import`` line of a ``.pth`` file: code Python runs at start-up, not run by trtdoctor."""

    file: str
    line: str


class UserSite(TypedDict):
    path: str
    enabled: bool
    why: str


class ModuleCopy(TypedDict):
    site_packages: str
    source: str
    package: str
    version: str


class ShadowedModule(TypedDict):
    """A module found in several dirs of one ``sys.path``: the first copy wins."""

    module: str
    winner: ModuleCopy
    shadowed: List[ModuleCopy]


class _PythonInterpreterBase(TypedDict):
    kind: str
    python: Optional[str]
    prefix: str
    version: Optional[VersionNumber]


class PythonInterpreter(_PythonInterpreterBase, total=False):
    """An interpreter judged: ``--python``, ``venv`` ($VIRTUAL_ENV), ``conda`` ($CONDA_PREFIX),
    ``running`` (live) or ``system``. ``sys_path`` is built statically as ``site`` does; live,
    ``live_sys_path`` is what the interpreter itself printed (in the judged environment) and
    ``live_agrees`` whether the two match after the standard library."""

    base_prefix: str
    venv: bool
    include_system: bool
    sys_path: List[SysPathEntry]
    pth_imports: List[PthImport]
    user_site: Optional[UserSite]
    shadowed: List[ShadowedModule]
    live_sys_path: List[str]
    live_agrees: bool
    live_only: List[str]
    static_only: List[str]
    live_error: str


class PythonArea(_Area, total=False):
    environments: List[PythonEnvironment]
    interpreters: List[PythonInterpreter]


# --- tensorflow --------------------------------------------------------------------------


class TfBuildInfo(TypedDict, total=False):
    """TensorFlow's own ``build_info`` (other keys pass through untyped)."""

    cuda_version: Union[str, int, float]
    cudnn_version: Union[str, int, float]
    is_cuda_build: bool
    is_rocm_build: bool
    is_tensorrt_build: bool


class _TfKbBase(TypedDict):
    trt: Optional[str]
    trt_sonames: Optional[List[str]]
    cuda: Optional[str]
    cudnn: Optional[str]
    python: Optional[List[str]]


class TfKb(_TfKbBase, total=False):
    """The knowledge base's row for this TensorFlow series: what it was built with.
    ``compute_capabilities``: the wheel's cuda_compute_capabilities, where the row knows them."""

    compute_capabilities: Optional[List[str]]


class _TfLiveBase(TypedDict):
    log: List[str]
    loaded_tensorrt: Optional[str]


class TfLive(_TfLiveBase, total=False):
    """Live only: ``import tensorflow`` in the environment's interpreter. ``log`` keeps the
    TF/TensorRT/CUDA lines of its stderr. ``linked_tensorrt`` is the TensorRT TF was built
    against; ``loaded_tensorrt`` the one it loads (asked only when libnvinfer resolves, since
    asking otherwise aborts the interpreter; ``loaded_tensorrt_skipped`` says why not)."""

    version: str
    build_info: TfBuildInfo
    gpus: List[str]
    gpus_error: str
    is_tensorrt_enabled: bool
    linked_tensorrt: str
    tftrt_error: str
    loaded_tensorrt_skipped: str
    error: str


class _TensorFlowInstallBase(TypedDict):
    package: str
    version: str
    site_packages: str
    python: Optional[str]
    python_version: Optional[VersionNumber]
    build_info: TfBuildInfo
    kb: Optional[TfKb]


class TensorFlowInstall(_TensorFlowInstallBase, total=False):
    live: TfLive


class TensorFlowArea(_Area, total=False):
    """TensorFlow installs. ``error`` appears next to ``installs`` when the live phase failed
    after the static one succeeded."""

    installs: List[TensorFlowInstall]


# --- tensorrt ----------------------------------------------------------------------------


class _BindingsSoBase(TypedDict):
    path: str


class BindingsSo(_BindingsSoBase, total=False):
    """A TensorRT Python bindings extension: the TensorRT sonames it needs (``NEEDED``),
    their majors, and its RPATH/RUNPATH; ``error`` when it is not a readable ELF."""

    needs: List[str]
    soname_majors: List[str]
    rpath: Optional[List[str]]
    error: str


class TrtLive(TypedDict, total=False):
    """Live only: importing one TensorRT module (``tensorrt``, ``tensorrt_bindings``,
    ``tensorrt_rtx``, ``tensorrt_lean_bindings``, …) and creating a Builder (lean and dispatch,
    which have none: a Runtime, ``runtime``/``runtime_error``). ``mapped`` lists the libnvinfer files the
    process mapped. ``error`` is set when the child itself failed."""

    module: str
    import_errors: Dict[str, str]
    version: Optional[str]
    builder: bool
    platform_has_fast_fp16: bool
    platform_has_fast_int8: bool
    platform_has_tf32: bool
    builder_flags: List[str]
    builder_error: str
    runtime: bool
    runtime_error: str
    mapped: List[str]
    error: str


class TrtRuntime(TypedDict):
    """One TensorRT runtime of an install: ``kind`` ``full`` (builds and runs engines),
    ``lean`` or ``dispatch`` (deserialize and run only: ``can_build`` false) or ``rtx``; its
    ``version`` (bindings, else front end), ``cuda_major`` (from ``-cuXX``), ``module`` (the
    import name), its ``bindings`` and ``libs`` distributions and the ``libs_files`` in its
    -libs package folder."""

    kind: str
    version: Optional[str]
    cuda_major: Optional[str]
    can_build: bool
    module: str
    bindings: Optional[str]
    libs: Optional[str]
    libs_files: List[str]


class _TensorRTInstallBase(TypedDict):
    site_packages: str
    python_version: Optional[VersionNumber]
    python: Optional[str]
    parts: Dict[TrtPartName, str]
    modules: Dict[str, bool]
    libs_files: List[str]
    bindings_so: List[BindingsSo]


class TensorRTInstall(_TensorRTInstallBase, total=False):
    """TensorRT pip parts in one site-packages. ``parts`` maps each TensorRT distribution to
    its version; ``modules`` says which import packages exist as folders; ``libs_files`` are
    the libraries in ``tensorrt_libs`` (none means a stub -libs wheel). ``live`` is keyed by
    module name. ``runtimes``: each TensorRT runtime these parts make (full, lean, dispatch, rtx)."""

    live: Dict[str, TrtLive]
    runtimes: List[TrtRuntime]


class TrtHeader(TypedDict):
    """A TensorRT C++ install, by its ``NvInferVersion.h``."""

    path: str
    version: str


class TensorRTArea(_Area, total=False):
    """TensorRT installs. ``error`` appears next to ``installs`` when the live phase failed
    after the static one succeeded."""

    installs: List[TensorRTInstall]
    headers: List[TrtHeader]


# --- libraries ---------------------------------------------------------------------------


class Step(TypedDict):
    """One place the loader model looked: ``outcome`` is ``found``, ``absent``,
    ``skipped: <why>`` or ``broken: <why>``."""

    where: str
    via: str
    outcome: str


class _CopyBase(TypedDict):
    path: str
    real: str
    via: str
    version: Optional[str]
    size: Optional[int]
    also: List[str]


class Copy(_CopyBase, total=False):
    """One copy of a library on disk (symlinks to one file are one copy: ``also`` lists the
    other names). ``via`` says who put its directory there (``LD_LIBRARY_PATH``, ``CUDA
    toolkit 13.0.2``, ``pip nvidia-cudnn-cu12 9.1.0 (venv /opt/v)``, ...). ``machine`` and
    ``needs_glibc``/``needs_glibcxx`` come from its ELF headers; ``elf_error`` when it is not
    a loadable ELF."""

    elf_error: str
    machine: str
    needs_glibc: Optional[str]
    needs_glibcxx: Optional[str]


class LibstdcxxCheck(TypedDict):
    """The GLIBCXX version a library ``needs`` against what the ``libstdc++.so.6`` the loader
    gives it ``provides``."""

    needs: str
    libstdcxx: str
    via: Optional[str]
    provides: Optional[str]


class MissingVersions(TypedDict):
    """Symbol versions a dlopen would miss: ``object`` (the library itself or one it NEEDs)
    requires ``missing`` from ``file``, which the loader gives as ``provider`` (found
    ``via``), whose highest version of that family is ``provides``."""

    object: str
    file: str
    provider: str
    via: Optional[str]
    missing: List[str]
    provides: Optional[str]


class LiveLoad(TypedDict, total=False):
    """Live only: what the real loader did with a ``dlopen`` of the soname."""

    loaded: str
    in_maps: bool
    error: str


class _LibraryResolutionBase(TypedDict):
    key: Optional[str]
    group: Optional[str]
    resolved: Optional[str]
    via: Optional[str]
    error: Optional[str]
    steps: List[Step]
    copies: List[Copy]


class LibraryResolution(_LibraryResolutionBase, total=False):
    """How one soname resolves for a plain ``dlopen``: ``resolved`` (as the loader names
    it) and ``resolved_real`` (the file), ``via`` which search step, ``error`` in ld.so's own
    words, every ``copies`` on disk. ``key``/``group`` are the knowledge base's name for the
    library (``cudnn``, ``driver``, ...). ``live_agrees`` is whether the real loader mapped the
    file the model predicts. ``missing_versions``: what ld.so's symbol-version check would
    refuse (empty: nothing); ``libstdcxx`` is the older, GLIBCXX-only form of it."""

    resolved_real: str
    version: Optional[str]
    unresolved_needed: List[str]
    libstdcxx: Optional[LibstdcxxCheck]
    missing_versions: List[MissingVersions]
    live: LiveLoad
    live_agrees: bool


class _ConsumerResolutionBase(TypedDict):
    resolved: Optional[str]
    via: Optional[str]
    error: Optional[str]


class ConsumerResolution(_ConsumerResolutionBase, total=False):
    """How the consumer gets one soname. ``preloaded_by``: the ``__init__.py`` that loaded the
    file by full path before the consumer (``via`` then reads ``preloaded by
    tensorrt_libs/__init__.py``); ``version``: the resolved file's version; ``resolved_real``:
    that file with its links followed, to tell which copy of a library this consumer gets."""

    preloaded_by: str
    version: Optional[str]
    resolved_real: str


class _ConsumerBase(TypedDict):
    name: str
    site_packages: str
    requester: Optional[str]
    needs: List[str]
    resolutions: Dict[str, ConsumerResolution]


class Consumer(_ConsumerBase, total=False):
    """An installed program that asks the loader for GPU libraries, resolved as that program
    would (its own RPATH/RUNPATH count). ``name`` is a display label; ``role`` is the stable
    machine value: ``tensorflow``, ``torch``, ``tensorrt-bindings``,
    ``onnxruntime-tensorrt-ep``, ``onnxruntime-cuda-ep`` or ``pycuda`` (absent in reports written before it existed). ``kind``: ``dlopen`` (sonames
    TF opens at run time) or ``NEEDED`` (its ELF's dependencies); ``error`` when its ELF
    could not be read."""

    role: str
    kind: str
    error: str


class Place(TypedDict):
    """A directory where CUDA, cuDNN or TensorRT libraries can live, with who put it there."""

    dir: str
    via: str


class LibrariesArea(_Area, total=False):
    """Library resolution: ``libraries`` per soname, ``consumers`` per framework. ``live``
    (live only) is the real loader's answer per soname, or an error. ``stale_cache`` lists
    libraries in ld.so.conf directories that /etc/ld.so.cache does not know."""

    machine: str
    ld_so_cache: bool
    ld_so_conf_dirs: List[str]
    stale_cache: List[str]
    places: List[Place]
    libraries: Dict[str, LibraryResolution]
    consumers: List[Consumer]
    live: Union[AreaError, Dict[str, LiveLoad]]


# --- pycuda, onnxruntime, precision --------------------------------------------------------


class PycudaLive(TypedDict, total=False):
    """Live only: ``built_cuda`` is the CUDA pycuda was compiled against, ``driver_cuda``
    the driver's CUDA as an integer (12040 = 12.4)."""

    version: Optional[str]
    built_cuda: VersionNumber
    driver_cuda: int
    devices: int
    error: str


class _PackageInstallBase(TypedDict):
    package: str
    version: str
    site_packages: str


class PycudaInstall(_PackageInstallBase, total=False):
    live: PycudaLive


class PycudaArea(_Area, total=False):
    installs: List[PycudaInstall]


class OnnxruntimeLive(TypedDict, total=False):
    version: str
    providers: List[str]
    error: str


class OnnxruntimeInstall(_PackageInstallBase, total=False):
    """``providers`` from the provider libraries the package ships (``providers_from`` says
    so); ``live`` only in reports of trtdoctor versions that imported onnxruntime."""

    providers: List[str]
    providers_from: str
    live: OnnxruntimeLive


class OnnxruntimeArea(_Area, total=False):
    installs: List[OnnxruntimeInstall]


class PrecisionGpu(TypedDict):
    """Per GPU: ``support`` per precision is ``true``/``false`` or a word (``slow``,
    ``partial``) from the knowledge base; ``request_by`` says how the installed TensorRT
    asks for it (``builder flag``, ``typed graph``, ``default``; null without TensorRT)."""

    index: Optional[int]
    name: Optional[str]
    compute_capability: Optional[str]
    support: Dict[str, Union[bool, str]]
    note: Optional[str]
    tensorrt: Optional[str]
    request_by: Dict[str, Optional[str]]


class PrecisionArea(_Area, total=False):
    gpus: List[PrecisionGpu]
    tensorrt: Optional[str]


class Target(TypedDict):
    """What was judged: the live machine, or a root file system read statically."""

    mode: Literal["live", "static"]
    root: str


# --- trt_system: TensorRT outside pip (probes/trt_system.py) -------------------------------


class TrtSysResolution(TypedDict):
    """Where one NEEDED soname resolves (``resolved`` None: it does not), how, and the full
    version in the real file's name."""

    resolved: Optional[str]
    via: Optional[str]
    version: Optional[str]


class _TrtSysBindingsBase(TypedDict):
    path: str
    needs: List[str]
    resolutions: Dict[str, TrtSysResolution]


class TrtSysBindings(_TrtSysBindingsBase, total=False):
    """A Python bindings extension (or libtorchtrt*.so) and its TensorRT sonames."""

    error: str


class TrtSysPackage(TypedDict):
    package: str
    version: Optional[str]
    held: bool


class _TrtSysInstallBase(TypedDict):
    kind: Literal["deb", "rpm", "tar", "conda", "ngc", "files"]
    version: Optional[str]
    lib_dir: Optional[str]
    libs: List[str]
    bindings: List[TrtSysBindings]


class TrtSysInstall(_TrtSysInstallBase, total=False):
    """One TensorRT installed outside pip. deb/ngc: ``packages`` from /var/lib/dpkg/status
    (``held``: ``Status: hold ok installed``), ``bindings_version`` from python3-libnvinfer;
    tar: the wheels in its ``python/`` folder and whether its lib is on LD_LIBRARY_PATH;
    rpm: found by its files (``evidence``); conda: the conda-meta record."""

    bindings_version: Optional[str]
    packages: List[TrtSysPackage]
    trtexec: Optional[str]
    evidence: str
    wheels: List[str]
    on_ld_library_path: bool
    conda_package: Optional[str]


class TorchTensorRT(TypedDict):
    """torch-tensorrt in one site-packages: its TensorRT pins (METADATA Requires-Dist), the
    TensorRT pip parts beside it, and what its libtorchtrt*.so NEED (``tensorrt_libs``
    counts as found: ``import tensorrt`` loads it first)."""

    site_packages: str
    version: Optional[str]
    tensorrt_pins: List[str]
    tensorrt_installed: Dict[str, str]
    libs: List[TrtSysBindings]


class Jetson(TypedDict):
    """Jetson (L4T): /etc/nv_tegra_release's first line, nvidia-l4t-* packages, the tegra driver
    libraries and /dev/nvhost-* nodes (both absent in a container started without the runtime)."""

    release: Optional[str]
    l4t_packages: List[str]
    tegra_libs: List[str]
    nvhost_nodes: List[str]


class TrtSystemArea(_Area, total=False):
    """TensorRT installs outside pip, torch-tensorrt, Jetson."""

    installs: List[TrtSysInstall]
    torch_tensorrt: List[TorchTensorRT]
    jetson: Optional[Jetson]


class Snapshot(TypedDict, total=False):
    """Every collected fact, by area; each area may be ``AreaError`` instead. Areas a run
    left out (``--only``/``--skip``) are absent; other areas may be added within /1."""

    os: Union[OsArea, AreaError]
    env: Union[EnvArea, AreaError]
    nvml: Union[NvmlArea, AreaError]
    driver: Union[DriverArea, AreaError]
    gpus: Union[GpusArea, AreaError]
    devices: Union[DevicesArea, AreaError]
    cuda: Union[CudaArea, AreaError]
    python: Union[PythonArea, AreaError]
    tensorflow: Union[TensorFlowArea, AreaError]
    tensorrt: Union[TensorRTArea, AreaError]
    trt_system: Union[TrtSystemArea, AreaError]
    libraries: Union[LibrariesArea, AreaError]
    pycuda: Union[PycudaArea, AreaError]
    onnxruntime: Union[OnnxruntimeArea, AreaError]
    precision: Union[PrecisionArea, AreaError]
    target: Target


# --- the report --------------------------------------------------------------------------


class Tool(TypedDict):
    name: str
    version: str


class CouldNotCheck(TypedDict):
    """An area whose checks could not run, and why."""

    area: str
    reason: str


class _SummaryBase(TypedDict):
    status: Literal["ok", "warning", "error"]
    errors: int
    warnings: int


class Summary(_SummaryBase, total=False):
    """Counts of error and warning findings; ``incomplete`` and ``could_not_check`` say
    what could not be judged."""

    incomplete: int
    could_not_check: List[CouldNotCheck]


class _FixBase(TypedDict):
    summary: str
    commands: List[str]
    env: Dict[str, str]
    links: List[str]


class Fix(_FixBase, total=False):
    """How to fix a finding: shell ``commands`` to run in order, ``env`` values to set
    (``"DIR:$VAR"`` prepends), documentation ``links``, and its ``kind`` of step (a report
    from before kinds has none: it follows from the other fields)."""

    kind: Literal["manual", "command", "install", "environment"]


class _FindingBase(TypedDict):
    id: str
    severity: Literal["error", "warning", "info"]
    area: str
    title: str
    detail: str
    evidence: List[str]
    fix: Optional[Fix]


class Finding(_FindingBase, total=False):
    """What a rule concluded. ``caused_by`` is the id of the finding this one follows from;
    ``subject`` names what it is about (a soname, a GPU, ...)."""

    caused_by: Optional[str]
    subject: Optional[str]


class Undecodable(TypedDict):
    """Present when some strings (file names, mostly) held bytes that are not UTF-8: JSON
    cannot carry them, so each such byte is written as the text ``\\xNN`` (NN its hex value)."""

    strings: int
    note: str


class _ReportBase(TypedDict):
    schema: Literal["trtdoctor.report/1"]
    tool: Tool
    target: Target
    summary: Summary
    snapshot: Snapshot
    findings: List[Finding]


class Report(_ReportBase, total=False):
    """A trtdoctor check report (``trtdoctor check --json``). Records accept keys not
    listed here: /1 may add keys, never remove or rename one."""

    undecodable: Undecodable
    provenance: Provenance


# --- the fix plan ----------------------------------------------------------------------


class _PlanStepBase(TypedDict):
    finding: str
    title: str
    summary: str


class _StepExtras(TypedDict, total=False):
    links: List[str]
    also_fixes: List[str]  # further findings the same install fixes


class InstallStep(_PlanStepBase, _StepExtras):
    """Package installs, pinned, with their index options (and ``env`` when the fix has one)."""

    kind: Literal["install"]
    commands: List[str]


class EnvStep(_PlanStepBase, _StepExtras):
    """Environment changes (``"DIR:$VAR"`` prepends): a fix of kind ``environment``."""

    kind: Literal["env"]
    env: Dict[str, str]


class ManualStep(_PlanStepBase, _StepExtras):
    """Steps a person must do (driver, reboot, container flags)."""

    kind: Literal["manual"]
    commands: List[str]


class CommandStep(_PlanStepBase, _StepExtras):
    """Commands to run (``unset LD_PRELOAD``, ``sudo reboot``), in order."""

    kind: Literal["command"]
    commands: List[str]


class PlanEnv(TypedDict):
    """The environment part of the plan, merged: directories to ``prepend`` per variable,
    and values to ``set``."""

    prepend: Dict[str, List[str]]
    set: Dict[str, str]


class _PlanBase(TypedDict):
    schema: Literal["trtdoctor.plan/1"]
    steps: List[Union[InstallStep, EnvStep, ManualStep, CommandStep]]
    env: PlanEnv


class Plan(_PlanBase, total=False):
    """A fix plan (``trtdoctor fix --format json``): steps in order (manual, command,
    install, env), each of its fix's kind and tied to the ``finding`` it fixes."""

    undecodable: Undecodable


# --- the smoke report ------------------------------------------------------------------


class SmokeStack(TypedDict):
    """The stack the smoke ran on, from the check's snapshot."""

    driver: Optional[str]
    cuda_driver: Optional[str]
    gpu: Optional[str]
    compute_capability: Optional[str]
    cudart: Optional[str]
    cudnn: Optional[str]
    libnvinfer: Optional[str]
    tensorrt: Optional[str]


SmokePrecision = Literal["fp32", "fp16", "int8", "best"]


class _SmokeRequestBase(TypedDict):
    precision: SmokePrecision
    batch: int
    iterations: int
    warmup: int
    model: str
    device: int
    cuda_graph: bool
    no_transfers: bool
    backend: str


class SmokeRequest(_SmokeRequestBase, total=False):
    """``precision`` and ``batch`` are the first of ``precisions`` and ``batches``, the
    lists a sweep (``--precision fp32,fp16 --batch 1,10,32``) runs."""

    precisions: List[SmokePrecision]
    batches: List[int]
    workspace_mib: Optional[int]
    verbose: bool


class LatencyStats(TypedDict):
    """Latency samples in milliseconds; ``cv_percent`` is the coefficient of variation."""

    n: int
    min: float
    mean: float
    median: float
    p90: float
    p99: float
    max: float
    cv_percent: float


class _SmokeBaselineBase(TypedDict):
    name: str
    version: str
    latency_ms: LatencyStats


class SmokeBaseline(_SmokeBaselineBase, total=False):
    """onnxruntime on the best provider present (``provider``: the one the session really
    took), timed as the engine is: warm-up runs, then a host clock around each call with its
    inputs and outputs. Outputs are judged against onnxruntime on the CPU in FP32."""

    provider: str
    available_providers: List[str]
    throughput_items_per_s: float
    warnings: List[str]
    batch: int


class SmokeBackend(TypedDict):
    backend: str
    module: str
    version: Optional[str]
    strongly_typed: Optional[bool]


class BuildWarning(TypedDict):
    """A WARNING TensorRT logged while building, and how many times it came."""

    message: str
    count: int


class _SmokeBuildBase(TypedDict):
    seconds: float
    engine_bytes: int
    engine: str
    flags: List[str]
    strongly_typed: bool


class SmokeBuild(_SmokeBuildBase, total=False):
    """The engine build: ``engine`` is the saved plan file (a JSON sidecar sits next to it);
    ``flags`` the builder precision flags (none for strongly typed networks); ``precision``
    in ``builds``, one per precision of a sweep. ``warnings``: what TensorRT warned of while
    building (also when the build succeeded); ``log``: its whole log, with ``--verbose``, one
    line per message led by its severity's letter ([E], [W], [I], [V]); ``workspace_mib``:
    the workspace limit asked with ``--workspace``; ``int8``: how this precision's INT8 was
    made, for each INT8-carrying precision of a sweep (the top-level ``int8`` is the first's)."""

    precision: SmokePrecision
    warnings: List[BuildWarning]
    log: List[str]
    workspace_mib: int
    int8: SmokeInt8


class Tolerance(TypedDict):
    cosine: float
    top1: float
    max_abs: float


class SmokeValidation(TypedDict):
    """Outputs against the baseline, with the tolerances of the precision."""

    max_abs_error: float
    cosine: float
    top1_agreement: float
    tolerance: Tolerance
    passed: bool


class _SmokeBenchmarkBase(TypedDict):
    gpu_ms: LatencyStats
    e2e_ms: LatencyStats
    throughput_items_per_s: float
    speedup_vs_baseline: float
    warnings: List[str]


class SmokeBenchmark(_SmokeBenchmarkBase, total=False):
    """GPU time (CUDA events) and end-to-end time (host clock); ``warnings`` are trtexec's
    enqueue-bound / transfer-bound / unstable advice. ``cuda_binding``: the CUDA bindings that
    ran it (cuda-python, or pycuda where it is the one installed); ``cuda_graph``: whether the
    enqueue really was a replayed CUDA graph (pycuda has no graph API)."""

    cuda_binding: Literal["cuda-python", "pycuda"]
    cuda_graph: bool


class _SmokeRunBase(TypedDict):
    precision: SmokePrecision
    batch: int
    passed: bool


class SmokeRun(_SmokeRunBase, total=False):
    """One cell of a sweep: a batch run on the engine of a precision. ``accuracy``: against
    FP32 on onnxruntime's CPU provider; ``speedup_vs_baseline``: the baseline's end-to-end
    median (``baseline_ms``) over ours; ``speedup_vs_fp32``: FP32 TensorRT's GPU median over
    ours, at the same batch. A failed cell has its ``reason`` and what was measured before."""

    reason: str
    gpu_ms: LatencyStats
    e2e_ms: LatencyStats
    throughput_items_per_s: float
    accuracy: SmokeValidation
    engine_bytes: int
    build_seconds: float
    baseline_ms: float
    speedup_vs_baseline: float
    speedup_vs_fp32: float
    warnings: List[str]
    cuda_binding: Literal["cuda-python", "pycuda"]
    cuda_graph: bool


class TrtexecStats(TypedDict, total=False):
    """As trtexec prints them, in ms: the percentiles are those it printed (p90, p95, p99)."""

    min: float
    mean: float
    median: float
    max: float
    p90: float
    p95: float
    p99: float


class _TrtexecRunBase(TypedDict):
    precision: SmokePrecision
    batch: int
    command: List[str]
    passed: bool


class TrtexecRun(_TrtexecRunBase, total=False):
    """One trtexec call: the first of a precision builds and saves its engine, the others
    load it. ``gpu_ms``: its GPU Compute Time; ``latency_ms``: its host latency (with
    copies); ``throughput_qps``: queries (batches) per second; ``reason``: why it gave no
    figures (its last error lines, or the timeout)."""

    reason: str
    seconds: float
    gpu_ms: TrtexecStats
    latency_ms: TrtexecStats
    enqueue_ms: TrtexecStats
    throughput_qps: float
    throughput_items_per_s: float


class SmokeTrtexec(TypedDict):
    """trtexec from PATH, run on the same model, profile and options as ours."""

    path: str
    version: Optional[str]
    runs: List[TrtexecRun]


class SmokeTensor(TypedDict):
    """A graph input or output: ``dims`` holds ints for static dims, the symbol (or "?")
    for dynamic ones."""

    name: str
    dtype: str
    dims: List[Union[int, str]]


class SmokeShapeRange(TypedDict):
    min: List[int]
    opt: List[int]
    max: List[int]


class SmokeModel(TypedDict):
    """The model as its graph declares it, the optimization profile per input (the run uses
    ``opt``), and where the run's inputs came from (an .npz file, or seeded random data)."""

    inputs: List[SmokeTensor]
    outputs: List[SmokeTensor]
    profile: Dict[str, SmokeShapeRange]
    feeds: str


class ExportFile(TypedDict):
    precision: Literal["fp32", "fp16", "int8"]
    path: str
    bytes: int
    sha256: str


class ExportCalibration(TypedDict, total=False):
    """Where the INT8 scales came from; ``synthetic``: seeded random data, scales that mean
    nothing for real inputs."""

    source: str
    batches: int
    synthetic: bool
    method: str


class TrtexecShapes(TypedDict):
    min: str
    opt: str
    max: str


class _SmokeExportBase(TypedDict):
    schema: Literal["trtdoctor.export/1"]
    dir: str
    source: str
    inputs: List[SmokeTensor]
    outputs: List[SmokeTensor]
    profile: Dict[str, SmokeShapeRange]
    feeds: str
    trtexec_shapes: TrtexecShapes
    files: List[ExportFile]
    accuracy: Dict[str, SmokeValidation]
    notes: List[str]
    warnings: List[str]
    passed: bool


class SmokeExport(_SmokeExportBase, total=False):
    """``smoke --export DIR`` (also DIR/manifest.json): the models written (``path`` relative
    to ``dir``), the shapes as trtexec takes them, and each model's onnxruntime accuracy
    against FP32 on the smoke's inputs."""

    calibration: ExportCalibration


class _SmokeInt8Base(TypedDict):
    mode: Literal["implicit", "explicit"]
    why: str
    calibrator: Literal["entropy", "minmax"]
    warnings: List[str]


class SmokeInt8(_SmokeInt8Base, total=False):
    """How ``--precision int8`` was made INT8. ``implicit``: BuilderFlag.INT8 and a TensorRT
    calibrator (Polygraphy's) fed ``batches`` from ``data`` (null: none read, the ``cache``
    was reused); ``explicit``: a Q/DQ model made by onnxruntime from the same data, whose
    ``accuracy`` against FP32 on onnxruntime was checked before TensorRT saw it.
    ``synthetic``: seeded random data, scales that mean nothing for real inputs."""

    data: Optional[str]
    batches: int
    synthetic: bool
    cache: Optional[str]
    cache_reused: bool
    cache_written: bool
    accuracy: SmokeValidation


class _SmokeTensorFlowBase(TypedDict):
    version: Optional[str]
    python: str
    site_packages: Optional[str]


class SmokeTensorFlow(_SmokeTensorFlowBase, total=False):
    """The TensorFlow that ran the SavedModel (its own interpreter, in a child): the SavedModel
    (``built_reference``: the reference, made by TF), its signature, the GPUs TF sees, where
    the baseline ran, and the child's log. With --backend tensorrt: ``onnx`` (tf2onnx's model),
    TF's ``baseline`` (``baseline`` is onnxruntime's then), onnxruntime FP32 against TF
    (``onnx_accuracy``: tf2onnx judged) and the engine's ``speedup_vs_tensorflow``."""

    model_dir: str
    signature: str
    built_reference: bool
    gpus: List[str]
    tftrt_enabled: bool
    device: str
    onnx: str
    baseline: SmokeBaseline
    baseline_error: str
    onnx_accuracy: SmokeValidation
    speedup_vs_tensorflow: float
    log: List[str]


class TfTrtDiagnosis(TypedDict):
    """Why conversion did not start: the TensorRT library that does not load, the check's
    finding for it and its fix."""

    library: Optional[str]
    error: Optional[str]
    finding: Optional[str]
    fix: str
    summary: str


class TfTrtCalibration(TypedDict):
    batches: int
    synthetic: bool
    source: str


class _SmokeTfTrtBase(TypedDict):
    precision_mode: Literal["FP32", "FP16", "INT8"]
    trt_sonames: List[str]
    converted: bool


class SmokeTfTrt(_SmokeTfTrtBase, total=False):
    """TrtGraphConverterV2: the arguments it took (``dropped``: asked for, not in this TF), the
    TRTEngineOps in the converted graph, its latency and speed-up over the TensorFlow baseline;
    or the ``diagnosis`` that stopped it."""

    diagnosis: TfTrtDiagnosis
    params: Dict[str, Union[str, int, bool]]
    dropped: List[str]
    trt_engine_ops: int
    saved: str
    convert_s: float
    build_s: float
    calibration: TfTrtCalibration
    latency_ms: LatencyStats
    throughput_items_per_s: float
    speedup_vs_baseline: float
    warnings: List[str]


class _SmokeReportBase(TypedDict):
    schema: Literal["trtdoctor.smoke/1"]
    tool: Tool
    stack: SmokeStack
    request: SmokeRequest
    preflight: List[Finding]
    result: Literal["PASS", "FAIL"]


class SmokeReport(_SmokeReportBase, total=False):
    """A smoke report (``trtdoctor smoke --format json``). ``preflight`` holds the check's
    errors that stopped it; ``reason`` says why it failed. The later sections appear as far
    as the smoke got."""

    reason: str
    model: SmokeModel
    export: SmokeExport
    baseline: SmokeBaseline
    baselines: List[SmokeBaseline]
    backend: SmokeBackend
    int8: SmokeInt8
    build: SmokeBuild
    builds: List[SmokeBuild]
    runs: List[SmokeRun]
    trtexec: SmokeTrtexec
    notes: List[str]
    validation: SmokeValidation
    benchmark: SmokeBenchmark
    tensorflow: SmokeTensorFlow
    tftrt: SmokeTfTrt
    undecodable: Undecodable


# --- provenance and the fleet summary (trtdoctor fleet) -----------------------------------


class Provenance(TypedDict):
    """Where and when the facts were collected (the trtdoctor version is ``tool.version``).
    ``host``: static mode, the judged root's /etc/hostname (null without one); live mode,
    $TRTDOCTOR_HOST_NAME when set (a scheduler's name for the node), else the kernel's host
    name; ``host_from`` says which. ``created``: the UTC time of the check. A re-check of a
    saved report (``--from``) keeps the saved provenance."""

    host: Optional[str]
    host_from: Literal["/etc/hostname", "TRTDOCTOR_HOST_NAME", "gethostname"]
    created: Annotated[str, JSONSchema(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")]


class FleetValue(TypedDict):
    """One value of a fact (null: absent on those nodes) and the nodes that have it."""

    value: Optional[str]
    nodes: List[str]


class FleetFact(TypedDict):
    """One fact across the answering nodes: ``majority`` is its most common value, ``values``
    every value seen, most common first."""

    fact: str
    label: str
    majority: Optional[str]
    values: List[FleetValue]


class FleetFinding(TypedDict):
    """An error or warning finding id and the nodes whose reports have it."""

    id: str
    severity: Literal["error", "warning"]
    title: str
    nodes: List[str]


class FleetChange(TypedDict):
    value: Optional[str]
    majority: Optional[str]


class FleetDifference(TypedDict):
    """Nodes that differ from the majority in the same way: the ``facts`` that differ, the
    finding ids they have that most nodes lack (``extra_findings``) and those most nodes
    have that they lack (``missing_findings``)."""

    nodes: List[str]
    facts: Dict[str, FleetChange]
    extra_findings: List[str]
    missing_findings: List[str]


class _FleetNodeBase(TypedDict):
    name: str
    file: str
    status: Literal["ok", "warning", "error", "no report"]


class FleetNode(_FleetNodeBase, total=False):
    """One node. ``name`` is its report's provenance host, else the file's name;
    ``reason`` says why a node has ``no report``; ``findings`` are its error and warning ids."""

    host: Optional[str]
    created: str
    errors: int
    warnings: int
    incomplete: int
    facts: Dict[str, Optional[str]]
    findings: List[str]
    reason: str


class FleetSummary(TypedDict):
    """Counts: every node, those with a report, those without, those whose check would exit 1
    (errors or areas not checked), and those that differ from the majority."""

    nodes: int
    answered: int
    no_report: int
    failing: int
    differing: int


class FleetRun(TypedDict):
    """How ``fleet slurm`` ran: the ``command``, where the reports went, srun's exit status
    (null: it did not finish) and its last words."""

    scheduler: Literal["slurm"]
    command: List[str]
    out: str
    returncode: Optional[int]
    error: Optional[str]


class _FleetReportBase(TypedDict):
    schema: Literal["trtdoctor.fleet/1"]
    tool: Tool
    summary: FleetSummary
    majority: Dict[str, Optional[str]]
    facts: List[FleetFact]
    findings: List[FleetFinding]
    differences: List[FleetDifference]
    nodes: List[FleetNode]


class FleetReport(_FleetReportBase, total=False):
    """A fleet summary (``trtdoctor fleet summary --format json``): the majority configuration,
    the facts and findings by node, and the groups of nodes that differ."""

    run: FleetRun
    undecodable: Undecodable
