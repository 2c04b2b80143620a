#!/bin/sh
# Prints which KVM the benchmarks run on: kvm_pvm, kvm_intel, kvm_amd, or none.
# kvm_intel/kvm_amd are loadable modules (live when /sys/module/M/initstate exists); on PVM
# hosts kvm_pvm is built into the kernel, so its /sys/module entry has parameters/ but no
# initstate: it counts when /dev/kvm exists.  (A kernel that is itself a PVM guest has the
# kvm_pvm entry too but no /dev/kvm: "none".)
for m in kvm_intel kvm_amd; do
  if [ -e "/sys/module/$m/initstate" ] && [ -e /dev/kvm ]; then echo "$m"; exit 0; fi
done
if [ -d /sys/module/kvm_pvm ] && [ -e /dev/kvm ]; then echo kvm_pvm; exit 0; fi
echo none
