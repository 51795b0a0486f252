require "fileinto";
if header "bad name" "x" { fileinto "never"; }
if not exists "bad name" { fileinto "not-there"; }
