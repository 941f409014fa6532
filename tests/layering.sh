#!/usr/bin/env bash
# The backend seam holds: OpenCL's and CLBlast's headers are included under
# host/cl/ only, and nothing outside host/cl/ calls into the OpenCL backend
# except the registry's line in host/context.c and the backend's declaration
# in host/backend.h (the front ends go
# through ctx->be, host/backend.h).
set -euo pipefail
host=$1
bad=0
if grep -rnE '#include[[:space:]]*[<"](CL/|clblast)' --include='*.c' --include='*.h' \
     --exclude-dir=cl "$host"; then
  echo "layering: OpenCL or CLBlast headers included outside $host/cl" >&2
  bad=1
fi
if grep -rnE '\bclt_cl_[a-z_]+' --include='*.c' --include='*.h' --exclude-dir=cl "$host" |
     grep -vE '^[^:]*/context\.c:[0-9]+:[[:space:]]*&clt_cl_backend,$' |
     grep -vE '^[^:]*/backend\.h:[0-9]+:extern const clt_backend clt_cl_backend;'; then
  echo "layering: the lines above reach into the OpenCL backend outside $host/cl" >&2
  bad=1
fi
[ $bad -eq 0 ] && echo "layering: OpenCL stays under $host/cl"
exit $bad
