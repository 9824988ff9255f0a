// Shape letters used in tensor names throughout mofe (x_TD is a [T, D] tensor):
//   B batch (sequences)          T tokens (B * S when flattened), S sequence length
//   D hidden size                F FFN (intermediate) size     V vocabulary
//   H attention heads            G key/value heads             Dh head dimension
//   E experts in a layer         e experts held by this rank   K experts per token (top-k)
//   N routed rows sent by this rank (T * K)                    M rows received by this rank
#pragma once
