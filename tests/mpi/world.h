// The job's communicator for the MPI tests: one for the whole executable (MPI backend),
// created before the first test and destroyed after the last, before main's MpiSession
// finalises MPI.
#pragma once

#include "mpi/communicator.h"

namespace styleseg::test {

comm::Communicator& world();

}  // namespace styleseg::test
