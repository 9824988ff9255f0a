# mofe_target_warnings(target): warnings for our own code only (LibTorch headers are
# included as SYSTEM so their warnings do not drown ours).
function(mofe_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(MOFE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
