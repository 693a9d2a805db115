// The MPI communicator under a Communicator, for libraries that do their own MPI
// (parallel HDF5's MPI-IO). Stages include this only where they open shared files.
#pragma once

#include <mpi.h>

#include "core/error.h"
#include "mpi/communicator.h"

namespace styleseg::comm {

// Every distributed backend spans the ranks of MPI_COMM_WORLD (NCCL is bootstrapped over
// it), so the collective file operations of all ranks of `comm` run over it. The local
// backend (one rank, maybe without MPI) gets MPI_COMM_NULL: a plain serial file. Thread
// ranks (tests) have no MPI under them, and one process's threads cannot share a serial file.
inline MPI_Comm mpi_comm_of(const Communicator& comm) {
  if (comm.backend() == Backend::Threads) throw CommError("a shared HDF5 file needs MPI ranks, not thread ranks");
  return comm.backend() == Backend::Local ? MPI_COMM_NULL : MPI_COMM_WORLD;
}

}  // namespace styleseg::comm
