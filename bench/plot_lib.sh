# shellcheck shell=bash
# Sourced by the benches: pictures beside the JSON, drawn with gnuplot (Debian's gnuplot-nox,
# which scripts/setup.sh installs). A bench without gnuplot still prints its table and JSON and
# says that the picture was not drawn.

# plot_png OUT.png GNUPLOT-SCRIPT: draws OUT.png (1000x600, pngcairo, else png) from the script;
# prints "picture: OUT.png" on stderr. Returns 1 (saying why) when gnuplot is missing or fails.
plot_png() {
  local out=$1 script=$2 term
  if ! command -v gnuplot >/dev/null; then
    echo "picture: not drawn (no gnuplot; apt-get install gnuplot-nox)" >&2
    return 1
  fi
  term=png
  gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 && term=pngcairo
  term="$term noenhanced"  # names such as kvm_pvm print as they are
  if gnuplot -e "set terminal $term size 1000,600 font ',10'; set output '$out'" -e "$script" 2>"$out.err"; then
    rm -f "$out.err"
    echo "picture: $out" >&2
  else
    echo "picture: gnuplot failed: $(head -3 "$out.err")" >&2
    return 1
  fi
}

# latency_cdf HISTORY: "latency_ms fraction" lines of the answered requests of an ftkv history
# (reply-ns - send-ns), sorted, for a CDF.
latency_cdf() {
  awk '!/^#/ && NF >= 8 && ($8 == "OK" || $8 == "NOTFOUND") { print ($7 - $6) / 1e6 }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }'
}
