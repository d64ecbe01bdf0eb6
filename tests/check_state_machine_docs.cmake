# Regenerates the state-machine reference into ACTUAL and fails when EXPECTED (the checked-in
# docs/state-machines.md) differs. Fix with `make docs`.
execute_process(COMMAND ${TRELLIS} fsm --reference OUTPUT_FILE ${ACTUAL} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "`trellis fsm --reference` failed with ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${EXPECTED} ${ACTUAL} RESULT_VARIABLE differs)
if(differs)
  message(FATAL_ERROR "docs/state-machines.md is out of date with the transition tables.\n"
                      "Run `make docs` and commit the result (diff: ${ACTUAL} vs ${EXPECTED}).")
endif()
