# shellcheck shell=bash
# Sourced, not run: select_java exports JAVA_HOME (and PATH) for a JDK 21+, since the machine's
# default java may be older. Used by verify.sh and the stages that build or run the services.

readonly MINIMUM_JAVA=21

# JAVA_HOME if it is new enough, otherwise the newest JDK 21+ installed under /usr/lib/jvm.
select_java() {
  local candidate version installed=()
  mapfile -t installed < <(printf '%s\n' /usr/lib/jvm/*/ | sort -Vr)
  for candidate in "${JAVA_HOME:-}" "${installed[@]}"; do
    [[ -n "$candidate" && -x "$candidate/bin/javac" ]] || continue
    version=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | awk -F'= ' '/java.specification.version/ {print $2}')
    if [[ "${version%%.*}" -ge "$MINIMUM_JAVA" ]]; then
      export JAVA_HOME="${candidate%/}"
      export PATH="$JAVA_HOME/bin:$PATH"
      echo "Using Java $version from $JAVA_HOME"
      return 0
    fi
  done
  echo "No JDK $MINIMUM_JAVA+ found: install one (e.g. Temurin 25) and set JAVA_HOME." >&2
  return 1
}
