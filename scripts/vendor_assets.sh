#!/usr/bin/env bash
# Refresh the API docs' own copies of Swagger UI and ReDoc (src/linkage_hub/assets/) from their
# npm packages, so /docs and /redoc load nothing from the internet. Pin the versions here and in
# the docstring of src/linkage_hub/apidocs.py; run the browser tests after.
set -euo pipefail
SWAGGER=swagger-ui-dist@5.35.0
REDOC=redoc@2.5.4
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$SWAGGER" "$REDOC" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
assets=src/linkage_hub/assets
swagger=("$work"/swagger-ui-dist-*/package)
redoc=("$work"/redoc-*/package)
cp "${swagger[0]}"/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png,LICENSE,NOTICE} "$assets/swagger-ui/"
cp "${redoc[0]}"/bundles/redoc.standalone.js "${redoc[0]}"/LICENSE "$assets/redoc/"
echo "vendored $SWAGGER and $REDOC into $assets"
