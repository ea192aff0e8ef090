// Conversion between R objects of class "mlx_group" and MLX's distributed
// groups, shared by the binding files.
#pragma once

#include <optional>

#include <cpp11.hpp>
#include <mlx/mlx.h>

/** Returns the group behind an "mlx_group" pointer. Throws
 * std::invalid_argument naming `fn()` when `x` is not a live group. */
mlx::core::distributed::Group rmlx_unwrap_group(SEXP x, const char* fn);

/** As rmlx_unwrap_group(), but R NULL gives no group. */
std::optional<mlx::core::distributed::Group> rmlx_parse_group(
    SEXP x,
    const char* fn);
