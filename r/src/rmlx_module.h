// Conversion between R module objects and rmlx::nn::Module, shared by the
// binding files of the layers.
#pragma once

#include <memory>

#include "rmlx/nn/module.h"
#include "rmlx_r.h"

/** Wraps a module in an external pointer whose finalizer releases it. For a
 * module written in R, returns its R object instead, unless `owner` is that
 * object being created: then the pointer protects `owner`. */
SEXP rmlx_wrap_module(
    std::shared_ptr<rmlx::nn::Module> module,
    SEXP owner = R_NilValue);

/** Returns the module behind an external pointer made by rmlx_wrap_module().
 * `x` may also be the R object of a module (an environment holding `.ptr`).
 * Throws std::invalid_argument naming `fn()` and `arg` when the pointer is
 * not one or was restored by readRDS(). */
std::shared_ptr<rmlx::nn::Module>& rmlx_unwrap_module(
    SEXP x,
    const char* fn,
    const char* arg);

/** Converts arrays under dotted names to an R list named by them. */
cpp11::writable::list rmlx_wrap_named(const rmlx::nn::NamedArrays& arrays);

/** Converts arrays to an unnamed R list of mlx_array objects. */
cpp11::writable::list rmlx_wrap_arrays(
    const std::vector<mlx::core::array>& arrays);

/** Converts a named R list of mlx_array objects; errors name `fn()`. */
rmlx::nn::NamedArrays rmlx_unwrap_named(cpp11::list values, const char* fn);
