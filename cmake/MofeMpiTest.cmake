# mofe_add_mpi_test(NAME BIN NP [ARGS...]): run a GoogleTest binary under mpiexec with NP ranks.
# --oversubscribe lets 4 ranks share 2 cores; --allow-run-as-root is harmless for other users.
function(mofe_add_mpi_test name bin np)
  add_test(NAME ${name}_np${np}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
                   --allow-run-as-root --bind-to none $<TARGET_FILE:${bin}> ${ARGN})
  set_tests_properties(${name}_np${np} PROPERTIES PROCESSORS ${np} TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1" LABELS mpi)
endfunction()
