// Shared helpers for the cpp11 binding files: conversion between R objects
// and mlx::core::array, dtype names and device names.
#pragma once

#include <string>

#include <cpp11.hpp>      // cpp11::sexp, cpp11 registration and exception handling
#include <mlx/mlx.h>      // mlx::core::array, Dtype, Device, StreamOrDevice

/** Wraps a copy of `a` in an R object of class "mlx_array". The object is an
 * external pointer to a heap-allocated array that its finalizer deletes. */
SEXP rmlx_wrap_array(mlx::core::array a);

/** Returns the bytes of MLX memory that arrays gained since the last
 * collection of R's garbage that Rmlx ran (rmlx_mark_collected()). */
size_t rmlx_memory_growth();

/** Records the active MLX memory after a collection of R's garbage. */
void rmlx_mark_collected();

/** Throws std::runtime_error naming `fn()` when called in a process forked
 * from the one that loaded Rmlx (by parallel::mclapply(), for example). */
void rmlx_check_not_forked(const char* fn);

/** Returns the array behind an "mlx_array" object. Throws
 * std::invalid_argument naming `fn()` and `arg` when `x` is not an
 * mlx_array or its pointer is NULL (after saveRDS()/readRDS()), and
 * std::runtime_error in a forked process (rmlx_check_not_forked()). */
mlx::core::array& rmlx_unwrap_array(SEXP x, const char* fn, const char* arg);

/** Parses a dtype name such as "float32" or "bool". Throws
 * std::invalid_argument naming `fn()` for an unknown name. */
mlx::core::Dtype rmlx_parse_dtype(const std::string& name, const char* fn);

/** Returns the name of `dtype` as rmlx_parse_dtype() accepts it. */
std::string rmlx_dtype_name(mlx::core::Dtype dtype);

/** Parses "cpu" or "gpu". Throws std::invalid_argument naming `fn()` for
 * another name, or for "gpu" when MLX has no GPU backend on this machine. */
mlx::core::Device rmlx_parse_device(const std::string& name, const char* fn);

/** Parses an optional device: R NULL gives the default stream, otherwise a
 * string as for rmlx_parse_device(). */
mlx::core::StreamOrDevice rmlx_parse_stream(SEXP device, const char* fn);
