# driftd: streaming drift monitor. Build: docker build -t driftd .
# Run:   docker run -v $PWD/config:/etc/driftd driftd run -c /etc/driftd/example.yaml
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY detectors ./detectors
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
# gcc is not needed at run time: crc32c and the scientific stack ship manylinux wheels.
RUN useradd --create-home --uid 10001 driftd
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
COPY config /etc/driftd
USER driftd
EXPOSE 9108
# /healthz answers 200 while the main loop runs. To be scraped from outside the container
# the config must set server.host: 0.0.0.0 (the default binds to loopback only).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["driftd"]
CMD ["run", "-c", "/etc/driftd/example.yaml"]
