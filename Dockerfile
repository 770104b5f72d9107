# syntax=docker/dockerfile:1.7
# The PromptSales platform image (workloads.common.DEFAULT_IMAGE): one image for the operator,
# the ETL CronJobs, the MCP server and the CLI. Build from the repository root:
#   docker build -t ghcr.io/promptsales/platform:0.1.0 .
# It installs Microsoft's ODBC Driver 18 for SQL Server, which the ETL's production source
# path (SQLAlchemy "mssql+pyodbc", driver=ODBC Driver 18 for SQL Server) needs at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the locked dependencies and the package ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential unixodbc-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/promptsales
ENV PATH=/opt/promptsales/bin:$PATH
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
# torch comes from the CPU wheel index so the CUDA build never resolves; requirements.lock
# pins every other version (used as constraints: test, bench and Pulumi extras stay out).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        "$(grep -E '^torch==' requirements.lock)"
COPY . .
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu \
        -c requirements.lock ".[embeddings]" \
 && python -c "import etl_job, mcp_server, promptsales, promptsales_cli, promptsales_operator, certs, workloads"

# --- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/promptsales/bin:$PATH \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Microsoft's apt repository for Debian 12 (their documented install for msodbcsql18);
# ACCEPT_EULA=Y accepts the driver's licence non-interactively.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg unixodbc libgssapi-krb5-2 \
 && curl -fsSL -o /tmp/packages-microsoft-prod.deb \
        https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb \
 && dpkg -i /tmp/packages-microsoft-prod.deb \
 && rm /tmp/packages-microsoft-prod.deb \
 && apt-get update \
 && ACCEPT_EULA=Y apt-get install -y --no-install-recommends msodbcsql18 \
 && apt-get purge -y --auto-remove curl gnupg \
 && rm -rf /var/lib/apt/lists/* \
 && odbcinst -q -d -n "ODBC Driver 18 for SQL Server"
COPY --from=build /opt/promptsales /opt/promptsales
# Non-root, matching workloads.common.NON_ROOT_UID and the restricted Pod Security profile;
# the root filesystem can be mounted read-only (nothing writes outside /tmp).
RUN groupadd --system --gid 10001 promptsales \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin promptsales
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["promptsales"]
CMD ["--help"]
