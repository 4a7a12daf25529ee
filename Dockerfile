# trtdoctor itself on an NGC TensorRT base (TensorRT 10.13.3.9, CUDA 13.0.2; driver ≥ 580).
# docker build -t trtdoctor . && docker run --rm --gpus all trtdoctor
FROM nvcr.io/nvidia/tensorrt:25.11-py3
COPY pyproject.toml README.md /src/
COPY trtdoctor /src/trtdoctor
RUN python3 -m pip install --no-cache-dir "/src[smoke]" && rm -rf /src
CMD ["trtdoctor", "check"]
