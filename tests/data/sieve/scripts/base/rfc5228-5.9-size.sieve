require "fileinto";
if size :over 100k { fileinto "big"; }
elsif size :under 400 { fileinto "small"; }
