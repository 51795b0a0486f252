require "fileinto";
if header :contains "subject" "\"quoted\\" { fileinto "never"; }
if header :is "subject" "Cheap pills \!\!\! make money fast" { fileinto "escaped"; }
