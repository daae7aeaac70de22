FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lgsp ./lgsp
COPY producers ./producers
COPY consumers ./consumers
COPY schemas ./schemas
RUN pip install --no-cache-dir .
ENTRYPOINT []
CMD ["lgsp", "--help"]
