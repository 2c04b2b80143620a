// Asserts that run only in replay: nothing of them is in the recording, and evaluating them
// never changes the replay (they only read registers and guest memory at stops the debugger
// makes, which are not points). Two kinds:
//  - expressions given on the command line (`ftd replay --assert EXPR --assert-at WHERE`),
//    over registers and guest memory by ELF symbol, checked at every point, at every
//    verified epoch, or each time the code at a symbol is reached;
//  - FTD_REPLAY_ASSERT(cond) compiled into the guest (guest/rt/ftd.h): the site's address and
//    the condition's text go into the image's .ftd_asserts section and nothing into its code,
//    so recording runs the same instructions with or without them; `--replay-asserts` puts
//    an execution breakpoint on each site and evaluates the condition there.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replay/debug/assert_expr.h"
#include "replay/debug/debugger.h"
#include "replay/debug/elf_symbols.h"

namespace ftd::replay::debug {

struct AssertOptions {
  std::vector<std::string> exprs;
  std::string at = "every-point";  // every-point | epoch | SYMBOL
  bool guest_asserts = false;      // --replay-asserts
};

struct AssertFailure {
  std::string report;  // what failed, where, with what value
};

// Replays forward under `dbg` checking the asserts; returns the first failure (the debugger
// then stands at it) or nullopt when the replay reached its end with all of them holding.
absl::StatusOr<std::optional<AssertFailure>> RunAsserts(Debugger& dbg, const ElfSymbols& symbols,
                                                        const AssertOptions& options,
                                                        uint64_t* checks);

}  // namespace ftd::replay::debug
