require "fileinto";
if true { fileinto "t"; }
if false { fileinto "f"; }
if not false { fileinto "nf"; }
if not not true { fileinto "nnt"; }
