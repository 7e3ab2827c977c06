#!/bin/bash
# dev/quant/kld_eval.sh TOOL TYPE IMAT(none|smelt|llama) TEXT(tune|gpl3) TAG [extra env for smelt via env]
# Quantizes /tmp/kld/f32.gguf with TOOL (smelt|llama) and prints mean KLD vs the F32 base on TEXT.
set -e
W=/tmp/kld; ROOT=/work/main; S=${SMELT:-$ROOT/build-kld/smelt}; P=~/.cache/smelt/peer/bin
tool=$1 type=$2 imat=$3 text=$4 tag=$5
out=$W/q.$tool.$type.$imat.$tag.gguf
iarg=""; [ "$imat" != none ] && iarg="--imatrix $W/imat.$imat.gguf"
t0=$(date +%s.%N)
if [ "$tool" = smelt ]; then $S quantize $iarg -t ${QT:-1} $W/f32.gguf $out $type > $out.qlog 2>&1
else $P/llama-quantize $iarg $W/f32.gguf $out $type ${QT:-1} > $out.qlog 2>&1; fi
t1=$(date +%s.%N)
if [ $text = tune ]; then tf=$W/tune.txt; nc=${NC:-8}; else tf=$ROOT/tests/data/gpl3.txt; nc=${NC:-14}; fi
$S perplexity -m $out -f $tf -c 512 --chunks $nc -t ${PT:-1} --kl-divergence-base $W/base.$text.kld --kl-divergence > $out.$text.plog 2>&1
kld=$(grep -i "mean.*kld\|KLD" $out.$text.plog | head -3 | tr '\n' ' ')
printf "%-6s %-7s %-6s %-5s %-12s q=%.1fs %s\n" $tool $type $imat $text $tag $(echo "$t1 - $t0" | bc) "$kld"
[ -n "$KEEP" ] || rm -f $out
