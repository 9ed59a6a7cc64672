# Installs the korch build tree into WORK_DIR/prefix, then configures, builds
# and runs the consumer project against it twice: with find_package(korch
# CONFIG) and with pkg-config. Fails on any error.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${KORCH_BUILD_DIR} --prefix ${prefix})
foreach(mode cmake pkgconfig)
  set(bdir ${WORK_DIR}/build-${mode})
  run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${bdir} -G ${CMAKE_GENERATOR}
      -DCMAKE_PREFIX_PATH=${prefix} -DCONSUMER_MODE=${mode})
  run(${CMAKE_COMMAND} --build ${bdir})
  run(${bdir}/consumer)
endforeach()
