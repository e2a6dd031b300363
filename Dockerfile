# The team server (`ticketclock server`) as a container image. Its settings come from the environment
# (README, "Team server"); put it behind a TLS reverse proxy. The tests do not need Docker.
#
#   docker build -t ticketclock-server .
#   docker run -e TICKETCLOCK_DATABASE_URL=postgresql://… -e TICKETCLOCK_PUBLIC_URL=https://time.example.com \
#     -e TICKETCLOCK_SECRET_KEY_FILE=/run/secrets/ticketclock_key -p 8470:8470 ticketclock-server
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin ticketclock
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY daemon ./daemon
COPY extension ./extension
RUN pip install --no-cache-dir '.[server]' && rm -rf /src
USER ticketclock
ENV TICKETCLOCK_BIND=0.0.0.0:8470 \
    TICKETCLOCK_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8470
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8470/healthz', timeout=2).status != 200)"]
CMD ["ticketclock", "server"]
