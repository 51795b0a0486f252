require "fileinto";
if header :is "x-custom" "second" { fileinto "second"; }
if header :is "received" "x" { fileinto "no"; }
if header :contains "received" "203.0.113.1" { fileinto "via-a"; }
